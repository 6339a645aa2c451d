"""Real components for the tests: the local Kafka broker, a PostgreSQL server, fresh databases."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parent.parent
KAFKA_PORT = int(os.environ.get("ALERTING_TEST_KAFKA_PORT", "19092"))
PG_PORT = int(os.environ.get("ALERTING_TEST_PG_PORT", "55432"))


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh single-node Kafka (KRaft) on 127.0.0.1 for this test session."""
    env = {
        **os.environ,
        "KAFKA_PORT": str(KAFKA_PORT),
        "KAFKA_DATA_DIR": str(tmp_path_factory.mktemp("kafka-data")),
    }
    script = ROOT / "deploy/local/kafka.sh"
    subprocess.run([script, "start"], check=True, env=env)
    yield f"127.0.0.1:{KAFKA_PORT}"
    subprocess.run([script, "stop"], check=False, env=env)


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> str:
    """The PostgreSQL server started by deploy/local/postgres.sh (started here if it is not up)."""
    env = {**os.environ, "PG_PORT": str(PG_PORT)}
    subprocess.run([ROOT / "deploy/local/postgres.sh", "start"], check=True, env=env)
    return f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"


async def _fresh_pg_database(admin_dsn: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:{PG_PORT}/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each backend the product supports."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'alerting.db'}"
    else:
        yield await _fresh_pg_database(request.getfixturevalue("postgres_admin_dsn"))


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'alerting.db'}"
