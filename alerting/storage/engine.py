"""Create the async engine for SQLite (embedded) or PostgreSQL, and bring the schema up to date."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from alerting.storage.connection import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "alerting_read_only"  # execution option set by `reading`


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def as_database(target: str | Database) -> Database:
    """A bare URL (tests, benchmarks, the embedded default) is a Database without extras."""
    return target if isinstance(target, Database) else Database(target)


def json_text(value: Any) -> str:
    """How JSON columns are written. orjson takes a sixth of json.dumps's time, which a burst of
    thousands of outbox payloads notices. Keys sorted, no spaces: an entry's details are then stored
    as the hash chain encodes them, so PostgreSQL can recompute an entry's hash by itself
    (accountability/scan.py); a value orjson writes otherwise (1e-07) is proved the slower way."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS).decode()


def create_engine(target: str | Database) -> AsyncEngine:
    """An engine with the settings each backend needs to be safe under concurrent writers."""
    target = as_database(target)
    url = target.sqlalchemy_url()
    if not target.is_sqlite:
        # Plans are made per execution: a cached generic plan made while a table was small (a new
        # deployment) keeps scanning it whole long after it grew, and intake's IN-list lookups
        # then slow down with every report stored.
        # No JIT: the service's statements read a page or a period's counts, and compiling one
        # (triggered by a large cost estimate, such as a page of a period's id range) takes
        # 100-300 ms, far longer than running it.
        settings = {"plan_cache_mode": "force_custom_plan", "jit": "off"}
        return create_async_engine(
            url,
            pool_size=10,
            max_overflow=10,
            pool_pre_ping=True,
            connect_args={"server_settings": settings, **target.connect_args()},
            json_serializer=json_text,
        )
    database = url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, json_serializer=json_text)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so that they can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads and then writes
        # can fail with "database is locked" instead of waiting its turn. A reader (`reading`) takes
        # none: in WAL mode it reads a snapshot while the writer goes on.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


@contextlib.asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads only. On SQLite its transactions are deferred, so a long read (an
    export, a chain verification) or a token look-up never makes a writer such as firing wait;
    PostgreSQL needs nothing. Writing through it on SQLite may fail: use `engine.begin()`."""
    async with engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        yield conn


_WRITE_LOCKS: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


def write_lock(engine: AsyncEngine) -> contextlib.AbstractAsyncContextManager[Any]:
    """Hold around a write transaction on SQLite: this process's writers queue here, first come
    first served, instead of in SQLite's busy handler, which sleeps up to 100 ms between tries.
    PostgreSQL needs nothing (row locks)."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        lock = _WRITE_LOCKS[engine] = asyncio.Lock()
    return lock


def alembic_config(target: str | Database) -> Config:
    """Alembic's configuration; migrations/env.py connects with `attributes["database"]` (its
    password and TLS), and the URL option only ever holds the URL without a password."""
    target = as_database(target)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", target.shown().replace("%", "%%"))
    config.attributes["database"] = target
    return config


def upgrade(target: str | Database) -> None:
    """Apply every migration (blocking; call before the event loop or in a thread)."""
    command.upgrade(alembic_config(target), "head")
