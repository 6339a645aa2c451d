"""The schema at start-up: migrate it (ALERTING_MIGRATE_ON_START=true, the embedded default) or only
check that it is at this code's head (false: the schema owner runs `alerting migrate`, the service's
role may not change the schema)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.errors import SettingsError
from alerting.storage.connection import INSUFFICIENT_PRIVILEGE, Database, explain, sqlstate
from alerting.storage.engine import alembic_config, create_engine, upgrade


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision; None before the first migration."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


@contextlib.contextmanager
def explained(database: Database) -> Iterator[None]:
    """Turn a failure to connect or sign in into the setting to fix (no traceback, no secret)."""
    try:
        yield
    except SettingsError:
        raise
    except Exception as exc:
        if (reason := explain(exc, database)) is not None:
            raise reason from None
        raise


async def check_at_head(engine: AsyncEngine, database: Database) -> None:
    """ALERTING_MIGRATE_ON_START=false: refuse to start unless the schema is exactly this code's."""
    with explained(database):
        found = await current_revision(engine)
    head = head_revision()
    if found != head:
        raise SettingsError(
            f"数据库结构版本为 {found or '无（尚未迁移）'}，本程序需要 {head}：请先以结构所有者运行 "
            f"`alerting migrate` / the database schema is at revision {found or 'none (never migrated)'} "
            f"and this version of the service needs {head}: run `alerting migrate` as the schema owner "
            "first (ALERTING_MIGRATE_ON_START=false: the service does not migrate)"
        )


def migrate(database: Database, *, on_start: bool = False) -> None:
    """Apply every migration (blocking), with the failures an operator can fix said plainly."""
    try:
        with explained(database):
            upgrade(database)
    except SettingsError:
        raise
    except Exception as exc:
        if sqlstate(exc) != INSUFFICIENT_PRIVILEGE:
            raise
        fix = (
            "Run `alerting migrate` as the schema owner (ALERTING_MIGRATION_DATABASE_URL) and start the "
            "service with ALERTING_MIGRATE_ON_START=false"
            if on_start
            else f"Give the schema owner's role in {database.url_setting}"
        )
        raise SettingsError(
            f"数据库角色 {database.role()} 无权修改数据库结构 / the database role {database.role()} may "
            f"not change the schema (permission denied). {fix}"
        ) from None


async def prepare_schema(engine: AsyncEngine, database: Database, migrate_on_start: bool) -> None:
    """What a process does to the schema before it uses the database."""
    if migrate_on_start:
        await asyncio.to_thread(lambda: migrate(database, on_start=True))
    else:
        await check_at_head(engine, database)


def prepare_schema_blocking(database: Database, migrate_on_start: bool) -> None:
    """prepare_schema for a command that has no engine yet (outside an event loop)."""
    if migrate_on_start:
        migrate(database, on_start=True)
        return

    async def check() -> None:
        engine = create_engine(database)
        try:
            await check_at_head(engine, database)
        finally:
            await engine.dispose()

    asyncio.run(check())
