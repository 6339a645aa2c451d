"""What a benchmark run starts and shares (`Env`: broker, PostgreSQL, receiver), and the Service."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.common import BACKENDS, KAFKA_PORT, PG_PORT, ROOT, free_port, log, until

if TYPE_CHECKING:
    from bench.calibration import Calibration


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
        self._calibration: Calibration | None = None

    @property
    def calibration(self) -> Calibration:
        """The machine's calibration measured at the start of this run (bench/calibration.py)."""
        if self._calibration is None:
            raise RuntimeError("the run has not measured its calibration yet")
        return self._calibration

    @calibration.setter
    def calibration(self, value: Calibration) -> None:
        self._calibration = value

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
