"""Shared set-up for the benchmarks: a dedicated Kafka broker, fresh databases, a webhook receiver in
its own process, seeding helpers, and small statistics. Loopback addresses only."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
KAFKA_PORT = int(os.environ.get("BENCH_KAFKA_PORT", "39092"))
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "55432"))
TOWNSHIPS = ("城关镇", "梅林镇", "青山乡")  # the example policy's township directory
# Seeded deadlines: kinds whose first round writes an entry and notifies, and whose firing arms
# nothing else (follow-ups would arm the next slot); five per incident, as a real incident has.
SEED_KINDS = ("written_report", "ack", "forward_phone", "forward_written", "final_report")
BACKENDS = ("sqlite", "postgresql")

_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def report_fields(incident_id: str, at: str, township: str = "城关镇") -> dict[str, Any]:
    """The first report of a distinct incident, as the benchmarks send it (HTTP body fields)."""
    return {
        "incident_id": incident_id,
        "township": township,
        "type": "first",
        "category": "安全生产",
        "level": "II",
        "title": "某企业仓库火情",
        "summary": "现场明火已扑灭，无人员伤亡，原因调查中。",
        "occurred_at": at,
        "known_at": at,
        "reporter": {"name": "张三", "phone": "0791-88888888"},
    }


def report_body(incident_id: str, at: str) -> bytes:
    """POST /api/v1/reports: the first report of a distinct incident (the HTTP load generators')."""
    return json.dumps(report_fields(incident_id, at), ensure_ascii=False).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes() -> int:
    """This process's resident set size (VmRSS in /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99, max (and count) of durations given in seconds, in milliseconds."""
    return {
        "count": len(seconds),
        "p50_ms": round(pct(seconds, 50) * 1000, 3),
        "p99_ms": round(pct(seconds, 99) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3) if seconds else math.nan,
    }


async def until(
    check: Callable[[], Awaitable[bool] | bool], within: float, what: str, every: float = 0.05
) -> None:
    """Poll `check` until true; bounded."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(every)


@dataclass
class Row:
    """One line of the printed table."""

    measurement: str
    figure: str
    target: str
    met: bool | None  # None: no target in docs/DESIGN.md


@dataclass
class Result:
    """What one benchmark module returns: numeric figures (flat), table rows, and details."""

    figures: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# Kafka, PostgreSQL, receiver
# ------------------------------------------------------------------------------------------------


class LocalKafka:
    """A broker of our own on 127.0.0.1:KAFKA_PORT, data in our temp dir, via deploy/local/kafka.sh."""

    def __init__(self, data_dir: Path, port: int = KAFKA_PORT) -> None:
        self.port = port
        self.env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_DATA_DIR": str(data_dir)}
        self.started = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _script(self, action: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(ROOT / "deploy/local/kafka.sh"), action],
            env=self.env,
            check=check,
            stdout=subprocess.PIPE,
            timeout=180,
        )

    def start(self) -> None:
        if self._script("status", check=False).returncode == 0:
            log(f"a broker is already running on {self.bootstrap} (left by an earlier run); using it")
            return
        log(f"starting Kafka on {self.bootstrap}")
        self._script("start")
        self.started = True

    def stop(self) -> None:
        if self.started:
            log("stopping Kafka")
            self._script("stop", check=False)
            self.started = False


class ReceiverProcess:
    """bench/receiver.py in its own process: a webhook endpoint that timestamps every arrival."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hook_url(self) -> str:
        return f"{self.base}/hook"

    def start(self) -> None:
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", "--port", str(self.port)],
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"receiver exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/_count", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("receiver did not start within 30 s")

    async def count(self) -> int:
        async with httpx.AsyncClient(timeout=10) as client:
            return int((await client.get(f"{self.base}/_count")).json()["count"])

    async def arrivals(self) -> list[tuple[str, float]]:
        """(Idempotency-Key, wall-clock arrival time) for every request since the last reset."""
        async with httpx.AsyncClient(timeout=30) as client:
            return [(k, float(t)) for k, t in (await client.get(f"{self.base}/_arrivals")).json()]

    async def reset(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            await client.post(f"{self.base}/_reset")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


def service_settings(database_url: str, bootstrap: str, **overrides: Any) -> Any:
    """Service settings with a topic and group of their own (like tests/support.py)."""
    from alerting.settings import Settings

    run = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic": f"bench.reports.{run}",
        "kafka_dlq_topic": f"bench.reports.{run}.dlq",
        "kafka_group_id": f"bench-{run}",
        **overrides,
    }
    return Settings(**values)


class Env:
    """Everything one benchmark run shares; `close` stops and removes all of it."""

    def __init__(
        self, quick: bool, backends: Sequence[str] = BACKENDS, keep: bool = False, reseed: bool = False
    ) -> None:
        self.quick = quick
        self.backends = tuple(backends)
        self.keep = keep
        self.reseed = reseed  # seed cached data sets (the auditors' log) again
        self.workdir = Path(tempfile.mkdtemp(prefix="alerting-bench-"))
        self.kafka = LocalKafka(self.workdir / "kafka-data")
        self.receiver = ReceiverProcess(self.workdir / "receiver.log")
        self.pg_admin_dsn = f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"
        self._pg_databases: list[str] = []
        self._policy: Any = None

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def slow_backends(self) -> tuple[str, ...]:
        """Backends for the measurements that take longest: in quick mode only the first (SQLite)."""
        return self.backends[:1] if self.quick else self.backends

    def start(self) -> None:
        self.kafka.start()
        self.receiver.start()
        if "postgresql" in self.backends:
            subprocess.run(
                [str(ROOT / "deploy/local/postgres.sh"), "start"],
                env={**os.environ, "PG_PORT": str(PG_PORT)},
                check=True,
                timeout=300,
            )

    async def close(self) -> None:
        """Stop and remove everything; each step runs even if an earlier one fails."""
        try:
            await self._drop_databases()
        except Exception as exc:  # e.g. the server was restarted by someone else meanwhile
            log(f"could not drop the benchmark databases {self._pg_databases}: {exc}")
        finally:
            try:
                self.receiver.stop()
            finally:
                self.kafka.stop()
                if not self.keep:
                    shutil.rmtree(self.workdir, ignore_errors=True)

    async def settle(self) -> None:
        """Start the next measurement on a quiet machine: the previous one's databases dropped,
        PostgreSQL checkpointed and dirty pages written out. Otherwise the writeback of a million
        rows just seeded lands in the middle of the next measurement (it throttles every writer,
        the broker's log appends included)."""
        await self._drop_databases()
        if "postgresql" in self.backends:
            import asyncpg

            conn = await asyncpg.connect(self.pg_admin_dsn, timeout=10)
            try:
                await conn.execute("CHECKPOINT")
            finally:
                await conn.close()
        await asyncio.to_thread(os.sync)
        await asyncio.sleep(2)

    async def _drop_databases(self) -> None:
        if not self._pg_databases:
            return
        import asyncpg

        conn = await asyncpg.connect(self.pg_admin_dsn, timeout=10)
        try:
            for name in list(self._pg_databases):
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                self._pg_databases.remove(name)
        finally:
            await conn.close()

    @property
    def policy(self) -> Any:
        """deploy/policy.example.toml with its roster, escalations going to our receiver."""
        if self._policy is None:
            from alerting.policy.loader import load_policy

            self._policy = load_policy(
                ROOT / "deploy/policy.example.toml", {"ALERTING_COUNTY_WEBHOOK_URL": self.receiver.hook_url}
            )
        return self._policy

    async def database(self, backend: str, name: str) -> str:
        """A fresh, migrated database on `backend`; its SQLAlchemy URL."""
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{self.workdir / (name + '.db')}"
        else:
            import asyncpg

            db = f"bench_{name}_{uuid.uuid4().hex[:8]}"
            conn = await asyncpg.connect(self.pg_admin_dsn)
            try:
                await conn.execute(f'CREATE DATABASE "{db}"')
            finally:
                await conn.close()
            self._pg_databases.append(db)
            url = f"postgresql+asyncpg://postgres@127.0.0.1:{PG_PORT}/{db}"
        from alerting.storage.engine import upgrade

        await asyncio.to_thread(upgrade, url)
        return url

    def settings(self, database_url: str, **overrides: Any) -> Any:
        return service_settings(database_url, self.bootstrap, **overrides)

    def service_env(self, database_url: str, port: int, **extra: str) -> dict[str, str]:
        """Environment for `alerting run` in its own process (as tests/faults/harness.py builds it)."""
        run = uuid.uuid4().hex[:8]
        return {
            **os.environ,
            "ALERTING_DATABASE_URL": database_url,
            "ALERTING_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "ALERTING_KAFKA_TOPIC": f"bench.http.{run}",
            "ALERTING_KAFKA_DLQ_TOPIC": f"bench.http.{run}.dlq",
            "ALERTING_KAFKA_GROUP_ID": f"bench-http-{run}",
            "ALERTING_POLICY": str(ROOT / "deploy/policy.example.toml"),
            "ALERTING_COUNTY_WEBHOOK_URL": self.receiver.hook_url,
            "ALERTING_HTTP_HOST": "127.0.0.1",
            "ALERTING_HTTP_PORT": str(port),
            "ALERTING_PUBLIC_URL": f"http://127.0.0.1:{port}",
            **extra,
        }


# ------------------------------------------------------------------------------------------------
# The service in this process
# ------------------------------------------------------------------------------------------------


@dataclass
class TickLog:
    """Wall-clock time at which each deadline tick (identified by its `now`) had committed."""

    done_at: dict[datetime, float] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def service_running(
    env: Env, database_url: str, ticks: TickLog | None = None, policy: Any = None, **overrides: Any
) -> AsyncIterator[Any]:
    """The whole Service (consumer, deadline loop, delivery) in this process, on the SystemClock.

    With `ticks`, the deadline loop's tick is wrapped to note when each tick's transaction had
    committed (instrumentation only: the tick itself is the service's own). `policy` replaces the
    example policy (e.g. to send escalations to a robot)."""
    from alerting.app.service import Service
    from alerting.clock import SystemClock

    service = Service(env.settings(database_url, **overrides), policy or env.policy, SystemClock())
    if ticks is not None:
        inner = service.deadlines._tick

        async def timed(now: datetime) -> datetime | None:
            due = await inner(now)
            ticks.done_at[now] = time.time()
            return due

        service.deadlines._tick = timed
    await service.start()
    try:
        with worker_heap():
            yield service
    finally:
        await service.stop()


@contextlib.contextmanager
def worker_heap() -> Iterator[None]:
    """The collector set up as in the worker process (alerting/app/runner.py), restored afterwards."""
    from alerting.app.runner import prepare_heap

    thresholds = gc.get_threshold()
    prepare_heap(batch_work=True)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def wait_ticks(service: Any, n: int, within: float = 60) -> None:
    await until(lambda: service.deadlines.ticks >= n, within, f"{n} deadline ticks", every=0.002)


# ------------------------------------------------------------------------------------------------
# Seeding deadline rows directly (as intake would have armed them)
# ------------------------------------------------------------------------------------------------


def spread(start: datetime, window: timedelta, n: int) -> list[datetime]:
    """n instants evenly over [start, start + window)."""
    return [start + window * (i / n) for i in range(n)]


def _rows(
    prefix: str, due: Sequence[datetime], now: datetime, kinds: Sequence[str] = SEED_KINDS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Open incidents, each with one pending deadline of each of `kinds`, due at the instants of
    `due` in turn; the incidents' titles are numbered (基准测试事件N)."""
    per = len(kinds)
    incidents: list[dict[str, Any]] = []
    deadlines: list[dict[str, Any]] = []
    for i, due_at in enumerate(due):
        incident_id = f"{prefix}-{i // per:07d}"
        if i % per == 0:
            township = TOWNSHIPS[(i // per) % len(TOWNSHIPS)]
            incidents.append(
                {
                    "id": incident_id,
                    "township": township,
                    "level": "II",
                    "category": "安全生产",
                    "title": f"基准测试事件{i // per}",
                    "status": "open",
                    "origin": "township",
                    "occurred_at": now - timedelta(minutes=30),
                    "known_at": now - timedelta(minutes=20),
                    "opened_at": now - timedelta(minutes=20),
                    "updated_at": now,
                }
            )
        deadlines.append(
            {
                "incident_id": incident_id,
                "township": incidents[-1]["township"],
                "kind": kinds[i % per],
                "seq": 0,
                "period": None,
                "due_at": due_at,
                "state": "pending",
                "fire_at": due_at,
                "next_round": 0,
                "context": None,
                "created_at": now,
            }
        )
    return incidents, deadlines


def _seed_sqlite(url: str, incidents: list[dict[str, Any]], deadlines: list[dict[str, Any]]) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from alerting.storage import schema

    path = make_url(url).database
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})
    try:
        with engine.begin() as conn:
            for table, rows in ((schema.incidents, incidents), (schema.deadlines, deadlines)):
                for i in range(0, len(rows), 20_000):
                    conn.execute(table.insert(), rows[i : i + 20_000])
    finally:
        engine.dispose()


async def _seed_postgres(url: str, incidents: list[dict[str, Any]], deadlines: list[dict[str, Any]]) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for table, rows in (("incidents", incidents), ("deadlines", deadlines)):
                if not rows:
                    continue
                columns = list(rows[0])
                await conn.copy_records_to_table(
                    table, records=[tuple(r[c] for c in columns) for r in rows], columns=columns
                )
        await conn.execute("ANALYZE incidents; ANALYZE deadlines")
    finally:
        await conn.close()


async def seed(url: str, due: Sequence[datetime], prefix: str) -> int:
    """Insert one pending deadline per instant in `due` (five per incident); returns the count."""
    incidents, deadlines = _rows(prefix, due, utcnow())
    if url.startswith("sqlite"):
        await asyncio.to_thread(_seed_sqlite, url, incidents, deadlines)
    else:
        await _seed_postgres(url, incidents, deadlines)
    return len(deadlines)


def reader(url: str) -> Any:
    """An engine for read-only probes. Not the product's create_engine: on SQLite that one opens every
    transaction with BEGIN IMMEDIATE (the write lock), so a probe would queue behind, and hold up,
    the writers it is watching."""
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})


async def seeded_escalations(url: str, prefix: str) -> list[Any]:
    """(deadline_id, round, fired_at, scheduled_for, due_at) of escalations of seeded deadlines."""
    from sqlalchemy import select

    from alerting.storage.schema import deadlines, escalations

    engine = reader(url)
    try:
        async with engine.connect() as conn:
            query = (
                select(
                    escalations.c.deadline_id,
                    escalations.c.round,
                    escalations.c.fired_at,
                    escalations.c.scheduled_for,
                    deadlines.c.due_at,
                )
                .join(deadlines, deadlines.c.id == escalations.c.deadline_id)
                .where(escalations.c.incident_id.like(f"{prefix}-%"))
            )
            return list((await conn.execute(query)).all())
    finally:
        await engine.dispose()


async def count_rows(url: str, table: str, where: str = "") -> int:
    from sqlalchemy import text

    engine = reader(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(f"SELECT count(*) FROM {table} {where}"))).scalar_one())
    finally:
        await engine.dispose()


def far_future(n: int, now: datetime | None = None) -> list[datetime]:
    """n pending deadlines due between 1 h and 25 h from now: they stay pending during a benchmark."""
    return spread((now or utcnow()) + timedelta(hours=1), timedelta(hours=24), n)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _main(argv: Iterable[str] | None = None) -> None:
    """`python -m bench.common seed URL --count N --prefix P`: seed pending rows from another process."""
    parser = argparse.ArgumentParser(prog="python -m bench.common")
    sub = parser.add_subparsers(dest="command", required=True)
    seeding = sub.add_parser("seed")
    seeding.add_argument("url")
    seeding.add_argument("--count", type=int, required=True)
    seeding.add_argument("--prefix", required=True)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command == "seed":
        n = asyncio.run(seed(args.url, far_future(args.count), args.prefix))
        print(json.dumps({"seeded": n}))


if __name__ == "__main__":
    _main()
