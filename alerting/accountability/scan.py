"""Reading the log for verification, off the event loop with one batch in memory: on PostgreSQL the
database proves the rows itself (scan_pg.py); on SQLite they are read on a connection of their own in
a worker thread and proved by digest.py; the first row not proved is handed back."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability import scan_pg
from alerting.accountability.digest import ROW_COLUMNS, check_rows, reference_problem
from alerting.accountability.scan_pg import Walk
from alerting.storage.schema import accountability_entries as entries

SEGMENT = scan_pg.SEGMENT  # rows per statement (PostgreSQL)
_FETCH = 2_000  # SQLite rows per fetch


async def walk(
    conn: AsyncConnection, after: int, previous: str, anchors: Mapping[int, str], batch: int = SEGMENT
) -> Walk:
    """Prove the entries with id > `after`, in order, the first linking to `previous`, until the end
    of the log or the first entry not proved. `anchors`: entry id -> hash a published bulletin holds."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "asyncpg":
        return await scan_pg.walk(conn, after, previous, anchors, batch)
    path = conn.engine.url.database
    if conn.dialect.name == "sqlite" and path and path != ":memory:" and not path.startswith("file:"):
        return await _walk_sqlite(path, after, previous, anchors, min(batch, _FETCH))
    return await _walk_reference(conn, after, previous, anchors, min(batch, _FETCH))


async def _walk_sqlite(path: str, after: int, previous: str, anchors: Mapping[int, str], fetch: int) -> Walk:
    cancelled = threading.Event()
    try:
        return await asyncio.to_thread(
            _sqlite_blocking, path, after, previous, dict(anchors), fetch, cancelled
        )
    except asyncio.CancelledError:
        cancelled.set()  # the thread stops at its next batch
        raise


_SQLITE_SELECT = f"SELECT {', '.join(ROW_COLUMNS)} FROM accountability_entries WHERE id > ? ORDER BY id"


def _sqlite_blocking(
    path: str, after: int, previous: str, anchors: dict[int, str], fetch: int, cancelled: threading.Event
) -> Walk:
    # A connection of its own, in this thread: rows are read and proved here, off the event loop,
    # in one deferred read transaction (one snapshot; writers go on in WAL mode).
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=True)
    try:
        db.execute("BEGIN")
        cursor = db.execute(_SQLITE_SELECT, (after,))
        checked, last_id = 0, None
        while rows := cursor.fetchmany(fetch):
            if cancelled.is_set():
                raise RuntimeError("chain verification cancelled")
            result = check_rows(rows, previous, anchors)
            checked += result.checked
            if result.checked:
                last_id, previous = result.last_id, result.last_hash or previous
            if result.stop is not None:
                return Walk(checked, last_id, previous, True)
        return Walk(checked, last_id, previous, False)
    finally:
        db.close()


async def _walk_reference(
    conn: AsyncConnection, after: int, previous: str, anchors: Mapping[int, str], fetch: int
) -> Walk:
    """Any other database or driver: rows through SQLAlchemy, proved the reference way."""
    plain = {k: (v, "") for k, v in anchors.items()}
    checked, last_id = 0, None
    while True:
        query = select(entries).where(entries.c.id > after).order_by(entries.c.id).limit(fetch)
        rows = (await conn.execute(query)).all()
        if not rows:
            return Walk(checked, last_id, previous, False)

        def prove(rows: list[Any], previous: str) -> tuple[int, str]:
            done = 0
            for row in rows:
                if reference_problem(row, previous, plain) is not None:
                    break
                previous, done = row.hash, done + 1
            return done, previous

        done, previous = await asyncio.to_thread(prove, list(rows), previous)
        checked += done
        if done:
            last_id = rows[done - 1].id
        if done < len(rows):
            return Walk(checked, last_id, previous, True)
        after = rows[-1].id
