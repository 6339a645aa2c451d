"""`alerting run` as two processes: the API in the parent, the consumer, deadlines and delivery in a
worker child. What crosses between them (pokes, readiness, metrics) and how they live and die together."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.faults.harness import ServiceProcess, fault_policy, service_env, wait_for
from tests.support import receiver


def _started(database_url: str, kafka_bootstrap: str, tmp_path: Path) -> ServiceProcess:
    """`alerting run` with its webhooks going nowhere (these tests are about the processes)."""
    policy = fault_policy(tmp_path / "policy.toml")
    service = ServiceProcess(
        service_env(database_url, kafka_bootstrap, policy, "http://127.0.0.1:9/"), tmp_path / "service.log"
    )
    service.start()
    return service


def _worker_pid(parent: ServiceProcess) -> int:
    assert parent.proc is not None
    children = Path(f"/proc/{parent.proc.pid}/task/{parent.proc.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie until init, its new parent, reaps it.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def _token(env: dict[str, str], role: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "alerting.app", "token", "create", "--role", role],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def _metric(text: str, line_start: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return None


async def test_a_deadline_armed_through_the_api_wakes_the_worker_and_shows_in_the_metrics(
    sqlite_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with receiver() as hook:
        # The worker would otherwise sleep 10 minutes: only the parent's poke can wake it in time.
        env = service_env(
            sqlite_url,
            kafka_bootstrap,
            fault_policy(tmp_path / "policy.toml", ack="1h"),
            hook.url,
            ALERTING_SWEEP_INTERVAL_S="600",
        )
        service = ServiceProcess(env, tmp_path / "service.log")
        service.start()
        try:
            async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
                assert (await client.get("/readyz")).json() == {
                    "database": "ok",
                    "kafka": "ok",
                    "worker": "ok",
                }
                await asyncio.sleep(1)  # the worker's deadline loop is asleep on an empty table
                token = await asyncio.to_thread(_token, env, "admin")
                # Learned an hour ago; level II gives the township one hour: due in two seconds.
                learned = datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=2)
                registered = await client.post(
                    "/api/v1/incidents",
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "incident_id": "C-POKE-1",
                        "township": "城关镇",
                        "level": "II",
                        "category": "社会稳定",
                        "title": "群众聚集",
                        "source": "hotline",
                        "learned_at": learned.isoformat(),
                    },
                )
                assert registered.status_code == 201, registered.text

                async def notified() -> bool:
                    return any(r.body.get("incident", {}).get("id") == "C-POKE-1" for r in hook.received)

                await wait_for(notified, "the concealment check's webhook", within=30)
                text = ""

                async def counted() -> bool:  # the send is counted once its answer is recorded
                    nonlocal text
                    text = (await client.get("/metrics")).text
                    sent = 'alerting_notifications_total{channel="hook",outcome="sent"}'
                    return _metric(text, sent) is not None

                await wait_for(counted, "the send in the merged metrics", within=30)
        finally:
            service.terminate()
    # Fired in the worker, counted once in the parent's merged metrics.
    assert _metric(text, 'alerting_escalations_total{kind="concealment_check"}') == 1.0
    assert _metric(text, 'alerting_notifications_total{channel="hook",outcome="sent"}') == 1.0
    assert text.count("# TYPE alerting_escalations_total counter") == 1


async def test_a_worker_crash_stops_the_service_and_says_so(
    sqlite_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    service = _started(sqlite_url, kafka_bootstrap, tmp_path)
    try:
        os.kill(_worker_pid(service), signal.SIGKILL)
        # Intake without firing would alert nobody: the supervisor must see the service go.
        assert await asyncio.to_thread(service.wait_exit, 60) == 1
    finally:
        service.stop_quietly()
    assert "worker process killed by SIGKILL; stopping the service" in service.log()


async def test_the_worker_dies_with_its_parent(sqlite_url: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    service = _started(sqlite_url, kafka_bootstrap, tmp_path)
    worker = _worker_pid(service)
    service.kill9()

    async def gone() -> bool:
        return _gone(worker)

    await wait_for(gone, "the worker to die with its parent", within=10)


async def test_the_worker_yields_the_cpu_and_sigterm_stops_both_processes_cleanly(
    sqlite_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    service = _started(sqlite_url, kafka_bootstrap, tmp_path)
    worker = _worker_pid(service)
    assert service.proc is not None
    parent_nice = os.getpriority(os.PRIO_PROCESS, service.proc.pid)
    assert os.getpriority(os.PRIO_PROCESS, worker) == min(19, parent_nice + 5)  # ALERTING_WORKER_NICE
    assert await asyncio.to_thread(service.terminate) == 0
    assert _gone(worker)
    log = service.log()
    assert "LeaveGroup request succeeded" in log and "alerting: stopped" in log


# Two shifts ahead of now, so the roster's end is a real time the worker reads from the database.
ROSTER = """
[roster]
shifts = [
  {{ start = "{a}", end = "{b}", duty_officer = {{ name = "王小明", phone = "13800000001" }} }},
  {{ start = "{b}", end = "{c}", duty_officer = {{ name = "陈丽", phone = "13800000002" }} }},
]
"""


async def test_each_gauge_in_the_merged_metrics_comes_from_the_one_process_that_owns_it(
    sqlite_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    a, b, c = (start + timedelta(days=n) for n in (0, 1, 2))
    policy = fault_policy(tmp_path / "policy.toml")
    with policy.open("a", encoding="utf-8") as f:
        f.write(ROSTER.format(a=a.isoformat(), b=b.isoformat(), c=c.isoformat()))
    env = service_env(
        sqlite_url, kafka_bootstrap, policy, "http://127.0.0.1:9/", ALERTING_METRICS_SAMPLE_INTERVAL_S="0.2"
    )
    service = ServiceProcess(env, tmp_path / "service.log")
    service.start()
    text = ""
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:

            async def sampled() -> bool:  # the worker has verified the chain and sampled the roster
                nonlocal text
                text = (await client.get("/metrics")).text
                return _metric(text, "alerting_chain_verification_last_timestamp_seconds") != 0.0 and (
                    _metric(text, "alerting_roster_covered_until_timestamp_seconds") != 0.0
                )

            await wait_for(sampled, "the worker's first samples", within=30)
    finally:
        service.terminate()
    # Set once, not once per process: the API's 0 adds nothing.
    assert _metric(text, "alerting_roster_covered_until_timestamp_seconds") == c.timestamp()
    assert _metric(text, "alerting_chain_verification_ok") == 1.0
    assert _metric(text, "alerting_chain_verification_entries") == 0.0
    verified = _metric(text, "alerting_chain_verification_last_timestamp_seconds")
    assert verified is not None and start.timestamp() - 5 <= verified <= datetime.now(UTC).timestamp()
    # Readiness is the parent's to report, though it asked the worker's /readyz too.
    assert _metric(text, "alerting_ready") == 1.0
    assert _metric(text, 'alerting_ready_check{check="worker"}') == 1.0
    assert _metric(text, 'alerting_outbox_pending{channel="hook"}') == 0.0
    assert _metric(text, "alerting_deadlines_overdue") == 0.0
    for component in ("api", "consumer", "deadlines", "delivery"):
        assert _metric(text, f'alerting_component_running{{component="{component}"}}') == 1.0, component
    # Process figures stay apart, labelled with their process.
    started = {
        process: _metric(text, f'alerting_process_start_time_seconds{{process="{process}"}}')
        for process in ("main", "worker")
    }
    assert all(v is not None and v >= start.timestamp() - 5 for v in started.values()), started
