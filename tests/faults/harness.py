"""Fault-test harness: the service as a real process (killed for real), a deduplicating receiver,
a producer of reports, and row counts straight from the database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from alerting.storage.schema import metadata, notifications
from consumers.signing import sign
from tests.support import free_port, producer_key, serve

# Short, real-time deadlines: these tests are about crashes, not about the rules' timing.
FAULT_POLICY = """
timezone = "Asia/Shanghai"
[levels.I]
first_report = "1h"
written_report = "2h"
ack = "{ack}"
[levels.II]
first_report = "1h"
written_report = "2h"
ack = "{ack}"
[levels.III]
first_report = "1h"
written_report = "2h"
ack = "{ack}"
[levels.IV]
first_report = "1h"
written_report = "2h"
ack = "{ack}"
[escalation.default]
steps = [{{ after = "0s", roles = ["duty_officer"], channels = ["hook"] }}]
[channels.hook]
type = "webhook"
url = "${{ALERTING_COUNTY_WEBHOOK_URL}}"
timeout = "{timeout}"
max_attempts = 30
"""


def fault_policy(path: Path, ack: str = "2s", timeout: str = "10s") -> Path:
    path.write_text(FAULT_POLICY.format(ack=ack, timeout=timeout), encoding="utf-8")
    return path


@dataclass
class ServiceProcess:
    """`alerting run` in its own process, with its own port and log file."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = (sys.executable, "-m", "alerting.app", "run")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **extra_env: str) -> None:
        env = {**self.env, "ALERTING_HTTP_PORT": str(self.port), **extra_env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("service did not start within 60 s")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def wait_crash(self, timeout: float = 60) -> None:
        """The failpoint killed the worker process, and the service stopped because of it."""
        code = self.wait_exit(timeout)
        assert code == 1 and "worker process killed by SIGKILL" in self.log(), self.log()[-2000:]

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop_quietly(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=30)


def service_env(
    database_url: str, kafka_bootstrap: str, policy: Path, webhook: str, **extra: str
) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "ALERTING_DATABASE_URL": database_url,
        "ALERTING_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ALERTING_KAFKA_TOPIC": f"faults.{run}",
        "ALERTING_KAFKA_DLQ_TOPIC": f"faults.{run}.dlq",
        "ALERTING_KAFKA_GROUP_ID": f"alerting-{run}",
        "ALERTING_KAFKA_TOPIC_PARTITIONS": "3",
        "ALERTING_POLICY": str(policy),
        "ALERTING_COUNTY_WEBHOOK_URL": webhook,
        "ALERTING_SWEEP_INTERVAL_S": "0.5",
        **extra,
    }


@dataclass
class DedupReceiver:
    """A webhook endpoint that, like a careful receiver, processes each idempotency key once."""

    hold: bool = False  # accept requests but never answer (in flight until the sender dies)
    raw: Counter[str] = field(default_factory=Counter)
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.raw[headers.get("idempotency-key", "")] += 1
        if self.hold:
            import asyncio

            await asyncio.Event().wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    @property
    def unique(self) -> int:
        return len(self.raw)

    @property
    def duplicates(self) -> int:
        return sum(self.raw.values()) - len(self.raw)


@asynccontextmanager
async def dedup_receiver() -> AsyncIterator[DedupReceiver]:
    hook = DedupReceiver()
    async with serve(hook, free_port()) as base:
        hook.url = f"{base}/hook"
        yield hook


def report_message(incident_id: str, report_id: str, township: str = "城关镇", level: str = "II") -> bytes:
    now = datetime.now(UTC).isoformat()
    return json.dumps(
        {
            "schema_version": 1,
            "report_id": report_id,
            "incident_id": incident_id,
            "township": township,
            "type": "first",
            "category": "安全生产",
            "level": level,
            "title": "故障演练",
            "summary": "故障演练报告",
            "occurred_at": now,
            "known_at": now,
            "reported_at": now,
            "reporter": {"name": "测试", "phone": "0791-80000000"},
        },
        ensure_ascii=False,
    ).encode()


async def produce_reports(bootstrap: str, env: dict[str, str], count: int, prefix: str) -> list[str]:
    """Produce `count` first reports of distinct incidents, signed with the test key the service's
    database holds (env says which topic and database); returns the incident ids."""
    key = await producer_key(env["ALERTING_DATABASE_URL"])
    topic = env["ALERTING_KAFKA_TOPIC"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    ids = [f"{prefix}-{i:05d}" for i in range(count)]
    try:
        futures = []
        for i in ids:
            value = report_message(i, f"r-{i}")
            futures.append(await producer.send(topic, value, key=i.encode(), headers=sign(value, key)))
        for future in futures:
            await future
    finally:
        await producer.stop()
    return ids


async def notification_states(database_url: str) -> dict[str, int]:
    """How many notifications are in each state (pending, sending, sent, failed)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(notifications.c.state, func.count()).group_by(notifications.c.state)
            )
            return {state: int(n) for state, n in rows}
    finally:
        await engine.dispose()


async def counts(database_url: str) -> dict[str, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {
                name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
                for name, table in metadata.tables.items()
            }
    finally:
        await engine.dispose()


async def wait_for(check: Any, what: str, within: float = 120) -> None:
    import asyncio

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


SUMMARY_LINES: list[str] = []  # printed at the end of the run by tests/conftest.py


def summary(scenario: str, **figures: int) -> str:
    """Record one `FAULT scenario: counts` line for the end-of-run report."""
    line = f"FAULT {scenario}: " + " ".join(f"{k}={v}" for k, v in figures.items())
    print(line)
    SUMMARY_LINES.append(line)
    return line
