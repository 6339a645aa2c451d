"""Exports as deployed: `alerting run` (ALERTING_COMPONENTS=api) in its own process on the seeded
database streams CSV and XLSX of about a million filtered entries to curl (a process of its own);
first bytes, the whole, the service's RSS sampled every 100 ms (/proc/PID/status), and the p99 of a
light auditors' query offered at a steady 20 requests/s beside it, compared with the same load
without an export (separate runs: the export's own time and memory are measured without the load)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from asyncio.subprocess import PIPE
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bench.audit_seed import Seeded
from bench.common import log, summary_ms, utcnow
from bench.http_intake import ServiceProcess
from bench.services import Env

TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 12, 1, tzinfo=TZ)  # the seeded log's end (bench/audit_gen.py)
RATE = 20.0  # the light query's requests per second, on schedule (open loop)
IN_FLIGHT = 40  # beyond this the service is not keeping up: a request is counted as dropped
LIGHT = ("/api/v1/accountability", {"limit": "100"})  # an auditor's first page, no filter


def vm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class RssSampler:
    """A thread reading the process's VmRSS every 100 ms (not the event loop: it may be busy)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(vm_rss(self.pid))
            except (OSError, RuntimeError):
                return
            self._stop.wait(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


async def export_window(url: str, target_rows: int) -> tuple[str, str, int]:
    """since/until (local ISO) of the log's last days holding about `target_rows` exported entries,
    from the rate in 2025 (counted directly: the product's own count is what is being measured)."""
    from sqlalchemy import func, select

    from alerting.storage.schema import accountability_entries as e
    from bench.seeding import reader

    year = datetime(2025, 1, 1, tzinfo=TZ)
    engine = reader(url)
    try:
        async with engine.connect() as conn:
            in_2025 = await conn.scalar(
                select(func.count()).where(
                    e.c.kind != "review", e.c.occurred_at >= year, e.c.occurred_at < year.replace(year=2026)
                )
            )
    finally:
        await engine.dispose()
    days = max(1, math.ceil(target_rows / max(1.0, (in_2025 or 0) / 365)))
    return (END - timedelta(days=days)).isoformat(), END.isoformat(), days


async def _light_load(
    client: httpx.AsyncClient, headers: dict[str, str], stop: asyncio.Event, out: dict[str, Any]
) -> None:
    """GET the light query every 1/RATE s on schedule; latency counted from the scheduled instant
    (answers other than 200 are counted by status, not as latencies)."""
    latencies: list[float] = []
    dropped = 0
    errors: dict[str, int] = {}
    tasks: set[asyncio.Task[None]] = set()
    t0 = time.perf_counter()

    async def one(at: float) -> None:
        try:
            answer = await client.get(LIGHT[0], params=LIGHT[1], headers=headers)
            if answer.status_code == 200:
                latencies.append(time.perf_counter() - at)
            else:  # e.g. 500 when the service's database pool ran dry: not a latency
                errors[str(answer.status_code)] = errors.get(str(answer.status_code), 0) + 1
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    n = 0
    while not stop.is_set():
        at = t0 + n / RATE
        n += 1
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        if len(tasks) >= IN_FLIGHT:
            dropped += 1
            continue
        task = asyncio.create_task(one(at))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out.update(summary_ms(latencies), offered=n, dropped=dropped, errors=errors)


async def _download(
    base: str, headers: dict[str, str], params: dict[str, str], timeout_s: float, into: Path
) -> dict[str, Any]:
    """The export fetched by curl in a process of its own, as an auditor's browser is: read here, the
    download's parsing would share this event loop with the light load and count in its latencies."""
    url = httpx.URL(base + "/api/v1/accountability/export", params=params)
    written = "%{http_code} %{time_starttransfer} %{time_total} %{size_download}"
    command = ["curl", "-sS", "--max-time", f"{timeout_s:g}", "-H", "@-", "-o", str(into), "-w", written]
    t0 = time.perf_counter()
    curl = await asyncio.create_subprocess_exec(*command, str(url), stdin=PIPE, stdout=PIPE, stderr=PIPE)
    said, complaint = await curl.communicate("".join(f"{k}: {v}\n" for k, v in headers.items()).encode())
    took = time.perf_counter() - t0
    status, first, _total, size = said.decode().split()
    finished = curl.returncode == 0
    if not finished and curl.returncode != 28:  # 28: the time ran out
        raise RuntimeError(f"curl failed ({curl.returncode}): {complaint.decode().strip()}")
    lines = await asyncio.to_thread(_newlines, into) if params.get("format") == "csv" else None
    await asyncio.to_thread(into.unlink, missing_ok=True)
    return {
        "status": int(status),
        "finished": finished,
        "first_bytes_s": float(first) if int(size) else None,
        "seconds": took,
        "bytes": int(size),
        "rows": max(0, lines - 1) if lines is not None else None,
    }


def _newlines(path: Path) -> int:
    count = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
    return count


async def _token(url: str) -> str:
    from alerting.domain import Role
    from alerting.storage.engine import create_engine
    from alerting.tokens import create

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await create(
                conn, name="bench-auditor-export", role=Role.AUDITOR, township=None, now=utcnow()
            )
    finally:
        await engine.dispose()


# (name, export format or None, whether the light load runs): each export alone (its own time and
# memory), then the light load alone and beside each export (what an export costs other requests).
PHASES = (
    ("csv", "csv", False),
    ("xlsx", "xlsx", False),
    ("baseline", None, True),
    ("csv_loaded", "csv", True),
    ("xlsx_loaded", "xlsx", True),
)


async def measure(
    env: Env, seeded: Seeded, target_rows: int, timeout_s: float, baseline_s: float
) -> dict[str, Any]:
    """Each phase on a fresh service process (a clean RSS to start from)."""
    since, until, days = await export_window(seeded.url, target_rows)
    token = await _token(seeded.url)
    headers = {"Authorization": f"Bearer {token}"}
    extra = {"ALERTING_COMPONENTS": "api", "ALERTING_POLICY": str(seeded.policy_path)}
    out: dict[str, Any] = {"since": since, "until": until, "days": days}
    for name, fmt, loaded in PHASES:
        api = ServiceProcess(env, seeded.url, extra)
        await asyncio.to_thread(api.start)
        try:
            limits = httpx.Limits(max_connections=IN_FLIGHT + 4)
            async with httpx.AsyncClient(base_url=api.base, timeout=None, limits=limits) as client:
                # Warm: the token cache, the pool, the first plans.
                await client.get(LIGHT[0], params=LIGHT[1], headers=headers)
                assert api.proc is not None
                stop, load = asyncio.Event(), {}
                with RssSampler(api.proc.pid) as rss:
                    before = vm_rss(api.proc.pid)
                    loading = (
                        asyncio.create_task(_light_load(client, headers, stop, load)) if loaded else None
                    )
                    result: dict[str, Any] = {}
                    if fmt is None:
                        await asyncio.sleep(baseline_s)
                    else:
                        params = {"format": fmt, "since": since, "until": until}
                        into = env.workdir / f"export.{fmt}"
                        result = await _download(api.base, headers, params, timeout_s, into)
                    stop.set()
                    if loading is not None:
                        await loading
                peak = max(rss.samples, default=before)
                out[name] = {**result, "rss_before": before, "rss_peak": peak, "rss_growth": peak - before}
                if loaded:
                    out[name]["light_query"] = load
                log(f"auditors export {name} ({seeded.label}): {out[name]}")
        finally:
            await asyncio.to_thread(api.stop)
            await _end_left_queries(seeded.url)
    return out


async def _end_left_queries(url: str) -> None:
    """A stopped service's queries run on in PostgreSQL until they try to answer (an export's batch,
    forty light queries): end them, or they weigh on the next phase."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import text

    from bench.seeding import reader

    engine = reader(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()
