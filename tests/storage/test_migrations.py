"""Migrations bring an empty database to the schema in alerting/storage/schema.py, repeatably."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, select, text

from alerting.domain import Role
from alerting.storage.engine import alembic_config, create_engine, upgrade
from alerting.storage.schema import api_tokens, metadata, on_backend
from tests.storage.factories import T0


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"include_object": on_backend(conn.dialect.name)})
    return list(compare_metadata(context, metadata))


async def test_upgrade_creates_every_table_and_stamps_head(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(_tables)
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    finally:
        await engine.dispose()
    assert tables == {*metadata.tables, "alembic_version"}
    assert version == [head]


async def test_migrated_database_matches_schema_module(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == []


async def test_second_upgrade_is_harmless(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                api_tokens.insert().values(
                    name="a", token_hash="f" * 64, role=Role.ADMIN.value, created_at=T0
                )
            )
        await asyncio.to_thread(upgrade, database_url)
        async with engine.connect() as conn:
            tables = await conn.run_sync(_tables)
            names = (await conn.execute(select(api_tokens.c.name))).scalars().all()
            version = (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar_one()
    finally:
        await engine.dispose()
    assert tables == {*metadata.tables, "alembic_version"}
    assert names == ["a"]
    assert version == 1
