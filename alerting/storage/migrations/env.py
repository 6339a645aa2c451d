"""Alembic environment: runs migrations over the service's own async engine factory."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from alerting.storage.connection import Database
from alerting.storage.engine import create_engine
from alerting.storage.schema import metadata, on_backend


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=on_backend(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    # alembic_config() hands over the Database (password, TLS); the URL option never holds a password.
    target = context.config.attributes.get("database")
    assert isinstance(target, Database), "run migrations through alerting.storage.engine.upgrade"
    engine = create_engine(target)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


asyncio.run(_online())
