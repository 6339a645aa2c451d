"""Real components for the tests: the local Kafka broker, a PostgreSQL server, fresh databases."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parent.parent
KAFKA_PORT = int(os.environ.get("ALERTING_TEST_KAFKA_PORT", "19092"))
PG_PORT = int(os.environ.get("ALERTING_TEST_PG_PORT", "55432"))


@dataclass
class LocalBroker:
    """The session's broker, which outage tests stop and start again (same data directory)."""

    env: dict[str, str]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.env['KAFKA_PORT']}"

    def start(self) -> None:
        subprocess.run([ROOT / "deploy/local/kafka.sh", "start"], check=True, env=self.env)

    def stop(self) -> None:
        subprocess.run([ROOT / "deploy/local/kafka.sh", "stop"], check=False, env=self.env)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A fresh single-node Kafka (KRaft) on 127.0.0.1 for this test session."""
    broker = LocalBroker(
        {
            **os.environ,
            "KAFKA_PORT": str(KAFKA_PORT),
            "KAFKA_DATA_DIR": str(tmp_path_factory.mktemp("kafka-data")),
        }
    )
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> str:
    """The PostgreSQL server started by deploy/local/postgres.sh (started here if it is not up)."""
    env = {**os.environ, "PG_PORT": str(PG_PORT)}
    subprocess.run([ROOT / "deploy/local/postgres.sh", "start"], check=True, env=env)
    return f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"


_CREATED: list[tuple[str, str]] = []  # (admin DSN, database) made by this session


async def fresh_pg_database(admin_dsn: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    _CREATED.append((admin_dsn, name))
    return f"postgresql+asyncpg://postgres@127.0.0.1:{PG_PORT}/{name}"


async def _drop_created() -> None:
    while _CREATED:
        admin_dsn, name = _CREATED.pop()
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """A developer's PostgreSQL does not keep a database per test run after run."""
    yield
    if _CREATED:
        try:
            asyncio.run(_drop_created())
        except (OSError, asyncpg.PostgresError) as exc:  # the server may be gone already
            print(f"could not drop test databases: {exc}", file=sys.stderr)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each backend the product supports."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'alerting.db'}"
    else:
        yield await fresh_pg_database(request.getfixturevalue("postgres_admin_dsn"))


@pytest.fixture
async def pg_url(postgres_admin_dsn: str) -> str:
    """An empty PostgreSQL database (the production backend; replicas share it)."""
    return await fresh_pg_database(postgres_admin_dsn)


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'alerting.db'}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per fault scenario with its counts, whatever the capture mode."""
    from tests.faults.harness import SUMMARY_LINES

    if SUMMARY_LINES:
        terminalreporter.section("fault scenarios")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
