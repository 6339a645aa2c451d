"""Bulk inserts for intake: COPY on PostgreSQL, executemany elsewhere.

An executemany INSERT costs PostgreSQL one bind-and-execute per row; COPY streams the rows into the
table and indexes at a fraction of that. Values go through each column's own bind processor first,
so what lands in the table is what an INSERT would have written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (all with the same keys) inside the caller's transaction."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        await conn.execute(table.insert(), list(rows))
        return
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None or not driver.is_in_transaction():
        # COPY outside the open transaction would commit on its own: keep the INSERT's guarantees.
        await conn.execute(table.insert(), list(rows))
        return
    names = list(rows[0])
    processors = [table.c[name].type.bind_processor(conn.dialect) for name in names]
    records = [
        tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(processors, (row[name] for name in names), strict=True)
        )
        for row in rows
    ]
    import asyncpg  # the PostgreSQL driver; SQLite deployments need not have it

    try:
        await driver.copy_records_to_table(table.name, records=records, columns=names)
    except asyncpg.IntegrityConstraintViolationError as exc:
        # Callers tell bad input from an unavailable database by SQLAlchemy's exception types.
        raise IntegrityError(f"COPY {table.name}", None, exc) from exc
    except asyncpg.DataError as exc:
        raise DataError(f"COPY {table.name}", None, exc) from exc
