"""The entries export as a stream of bytes, whichever the database: PostgreSQL formats each batch
itself (export_pg); elsewhere the rows are read a batch at a time and formatted in a worker thread
(exports). Either way memory holds a batch, not the export, and the first bytes leave at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerting.audit import export_pg, exports, queries
from alerting.audit.queries import NOTHING, EntryQuery, period_ids
from alerting.audit.xlsx_stream import StreamedWorkbook
from alerting.storage.engine import reading

Format = Literal["csv", "xlsx"]
# Rows per page where Python formats them: each page's rows are made into entries on the event loop,
# so a page is the longest the export holds up the other requests (1,000 rows took ~90 ms).
PYTHON_BATCH = 250
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "xlsx": exports.XLSX_MEDIA_TYPE}


def _no_count(_: int) -> None:
    pass


async def export(
    conn: AsyncConnection,
    q: EntryQuery,
    tz: ZoneInfo,
    format: Format,
    counted: Callable[[int], None] = _no_count,
) -> AsyncIterator[bytes]:
    """The export of `q`'s entries in id order; `counted` hears each batch's number of rows."""
    if conn.dialect.name == "postgresql":
        # One core for the export: parallel workers made no batch faster, and the other requests need
        # the rest. The statement begins the reading transaction if none is open.
        await conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        made = _pg_csv if format == "csv" else _pg_xlsx
        async for chunk in made(conn, q, tz, counted):
            yield chunk
        return

    async def batches() -> AsyncIterator[list[dict[str, Any]]]:
        async for batch in queries.entry_batches(conn, q, PYTHON_BATCH):
            counted(len(batch))
            yield batch

    stream = exports.stream_csv if format == "csv" else exports.stream_xlsx
    async for chunk in stream(batches(), tz):
        yield chunk


async def export_from(
    engine: AsyncEngine, q: EntryQuery, tz: ZoneInfo, format: Format
) -> AsyncIterator[bytes]:
    """`export` on a reading connection of its own, held while the stream is read (HTTP responses)."""
    async with reading(engine) as conn:
        async for chunk in export(conn, q, tz, format):
            yield chunk


async def _pg_csv(
    conn: AsyncConnection, q: EntryQuery, tz: ZoneInfo, counted: Callable[[int], None]
) -> AsyncIterator[bytes]:
    yield exports.csv_head()
    bounds = await period_ids(conn, q.since, q.until)
    after = 0
    while bounds != NOTHING:
        limit = export_pg.BATCH
        rows, last, data = (await conn.execute(export_pg.csv_batch(q, tz, bounds, after, limit))).one()
        if not rows:
            return
        counted(rows)
        yield bytes(data)
        if rows < limit:
            return
        after = last


async def _pg_xlsx(
    conn: AsyncConnection, q: EntryQuery, tz: ZoneInfo, counted: Callable[[int], None]
) -> AsyncIterator[bytes]:
    """The rows' XML comes from the database; the ZIP's compression runs in a worker thread."""
    workbook = StreamedWorkbook(exports.ENTRIES_SHEET, exports.COLUMNS)
    yield workbook.start()
    bounds = await period_ids(conn, q.since, q.until)
    after = 0
    while bounds != NOTHING:
        first_row, room = workbook.room()
        limit = min(export_pg.BATCH, room)
        batch = export_pg.xlsx_batch(q, tz, bounds, after, first_row, workbook.letters, limit)
        rows, last, data = (await conn.execute(batch)).one()
        if not rows:
            break
        counted(rows)
        if chunk := await asyncio.to_thread(workbook.append_made, bytes(data), rows):
            yield chunk
        if rows < limit:
            break
        after = last
    yield await asyncio.to_thread(workbook.close)
