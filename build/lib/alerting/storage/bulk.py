"""Bulk inserts for intake and firing: COPY on PostgreSQL, the driver's executemany on SQLite.

An executemany INSERT costs PostgreSQL one bind-and-execute per row; COPY streams the rows into the
table and indexes at a fraction of that. Values go through each column's own bind processor first,
so what lands in the table is what an INSERT would have written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], ids: Sequence[int] | None = None
) -> None:
    """Insert `rows` (all with the same keys) inside the caller's transaction; `ids`, if given, are
    their primary keys, so that a burst's rows need not be copied to add one."""
    if not rows:
        return
    names = list(rows[0])

    def with_ids() -> list[dict[str, Any]]:
        return list(rows) if ids is None else [{"id": i, **r} for i, r in zip(ids, rows, strict=True)]

    def records() -> list[tuple[Any, ...]]:
        values = _records(conn, table, rows, names)
        return values if ids is None else [(i, *v) for i, v in zip(ids, values, strict=True)]

    if any(c.default is not None and c.name not in names for c in table.c):
        await conn.execute(table.insert(), with_ids())  # SQLAlchemy fills in Python-side defaults
        return
    columns = names if ids is None else ["id", *names]
    if conn.dialect.name != "postgresql":
        # The driver's executemany on values already bound: SQLAlchemy's own parameter handling
        # costs more than SQLite's work for each row.
        quote = conn.dialect.identifier_preparer.quote
        statement = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        await conn.exec_driver_sql(statement, records())
        return
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None or not driver.is_in_transaction():
        # COPY outside the open transaction would commit on its own: keep the INSERT's guarantees.
        await conn.execute(table.insert(), with_ids())
        return
    import asyncpg  # the PostgreSQL driver; SQLite deployments need not have it

    try:
        await driver.copy_records_to_table(table.name, records=records(), columns=columns)
    except asyncpg.IntegrityConstraintViolationError as exc:
        # Callers tell bad input from an unavailable database by SQLAlchemy's exception types.
        raise IntegrityError(f"COPY {table.name}", None, exc) from exc
    except asyncpg.DataError as exc:
        raise DataError(f"COPY {table.name}", None, exc) from exc


def _records(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], names: list[str]
) -> list[tuple[Any, ...]]:
    """Each row's values in `names` order, through each column's own bind processor. A value object
    shared by many rows (the batch's `now`, one step's roles) is processed once."""
    columns = []
    for name in names:
        process = table.c[name].type.bind_processor(conn.dialect)
        columns.append((name, None if process is None else _once_per_object(process)))
    return [
        tuple(
            value if process is None or value is None else process(value)
            for name, process in columns
            for value in (row[name],)
        )
        for row in rows
    ]


def _once_per_object(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # Keyed by id(): every value stays referenced by `rows` for the whole call, so no id is reused.
    done: dict[int, Any] = {}

    def memo(value: Any) -> Any:
        key = id(value)
        if key not in done:
            done[key] = process(value)
        return done[key]

    return memo


async def insert_numbered(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert `rows` with ids that ascend in their order, and return the ids (RETURNING would give
    them, but not in order on SQLite, and costs PostgreSQL a bind-and-execute per row).

    PostgreSQL draws them from the table's sequence, SQLite counts on from the largest id, which
    only this transaction can change: SQLite transactions here hold the write lock from BEGIN."""
    if len(rows) <= 1:  # one row's id is in order whoever assigns it
        inserted = await conn.execute(table.insert().returning(table.c.id), list(rows))
        return [int(i) for i in inserted.scalars()]
    if conn.dialect.name == "postgresql":
        drawn = await conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table.name, "n": len(rows)},
        )
        ids = sorted(int(i) for i in drawn.scalars())
    else:
        last = (await conn.execute(select(func.max(table.c.id)))).scalar_one_or_none() or 0
        ids = list(range(last + 1, last + 1 + len(rows)))
    await insert_rows(conn, table, rows, ids)
    return ids
