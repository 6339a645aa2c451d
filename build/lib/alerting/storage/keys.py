"""Service-wide secrets kept in the database, so that every replica signs with the same key."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.storage.schema import service_keys


async def load_or_create(conn: AsyncConnection, name: str) -> str:
    """The secret called `name`, generated on first use (replicas racing agree on the first)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(service_keys)
        .values(name=name, value=secrets.token_urlsafe(32))
        .on_conflict_do_nothing()
    )
    return str(
        (await conn.execute(select(service_keys.c.value).where(service_keys.c.name == name))).scalar_one()
    )
