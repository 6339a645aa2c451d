"""Reading the log for verification: the hashed columns in id order, streamed (PostgreSQL: COPY
through asyncpg, a segment of rows at a time; SQLite: its own connection in a worker thread), proved
by digest.py off the event loop, with one batch in memory; the first row not proved is handed back."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.digest import ROW_COLUMNS, Batch, check_copy, check_rows, reference_problem
from alerting.storage.schema import accountability_entries as entries

SEGMENT = 50_000  # rows per COPY statement: what a break costs to read past, at most
_CHUNK = 1 << 19  # bytes of COPY text proved per task
_IN_FLIGHT = 3  # tasks handed to the worker and not yet settled: memory stays a few chunks
_FETCH = 2_000  # SQLite rows per fetch


class Walk(NamedTuple):
    checked: int  # entries proved
    last_id: int | None  # the last one proved (None: none)
    last_hash: str  # its hash, or the hash the walk started from
    stopped: bool  # True: the entry after last_id (or after the start) was not proved


async def walk(
    conn: AsyncConnection, after: int, previous: str, anchors: Mapping[int, str], batch: int = SEGMENT
) -> Walk:
    """Prove the entries with id > `after`, in order, the first linking to `previous`, until the end
    of the log or the first entry not proved. `anchors`: entry id -> hash a published bulletin holds."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "asyncpg":
        return await _walk_postgres(conn, after, previous, anchors, batch)
    path = conn.engine.url.database
    if conn.dialect.name == "sqlite" and path and path != ":memory:" and not path.startswith("file:"):
        return await _walk_sqlite(path, after, previous, anchors, min(batch, _FETCH))
    return await _walk_reference(conn, after, previous, anchors, min(batch, _FETCH))


def _time(column: str) -> str:
    # Python's isoformat() of the UTC time: no fraction when it is zero.
    utc = f"{column} AT TIME ZONE 'UTC'"
    return (
        f"CASE WHEN date_trunc('second', {column}) = {column} "
        f'THEN to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS"+00:00"\') '
        f'ELSE to_char({utc}, \'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\') END'
    )


def _number(column: str) -> str:
    return f"COALESCE({column}::text, 'null')"


def _tail(text: Callable[[str], str]) -> str:
    """The hashed content after the details, keys in order, each string written by `text`."""
    return (
        f"""',"incident_id":' || {text("incident_id")} || ',"kind":' || {text("kind")}"""
        f""" || ',"occurred_at":"' || {_time("occurred_at")} || '","prev_hash":"' || prev_hash"""
        f""" || '","recorded_at":"' || {_time("recorded_at")} || '","refers_to":' || {_number("refers_to")}"""
        f""" || ',"report_id":' || {text("report_id")} || ',"responsible":' || {text("responsible")}"""
        f""" || ',"township":' || {text("township")} || '}}'"""
    )


# PostgreSQL writes the content around the details (C is cheaper than Python at it), in JSON as
# json.dumps writes it: a string with nothing to escape between quotes, any other through to_json
# (the same escapes). prev_hash goes in as it is: a line is proved only if it equals the verified hash.
_HEAD = (
    f"""'{{"deadline_id":' || {_number("deadline_id")}"""
    f""" || ',"delay_seconds":' || {_number("delay_seconds")} || ',"details":'"""
)
_PLAIN = _tail(lambda c: f"""COALESCE('"' || {c} || '"', 'null')""")
_ESCAPED = _tail(lambda c: f"COALESCE(to_json({c})::text, 'null')")
_STRINGS = "concat(incident_id, kind, report_id, responsible, township)"
_SELECT = (
    f"id, hash, prev_hash, {_HEAD}, "
    f"""CASE WHEN {_STRINGS} ~ '[[:cntrl:]"\\\\]' THEN {_ESCAPED} ELSE {_PLAIN} END, details::text"""
)


def copy_query(after: int, limit: int) -> str:
    """The query COPY streams: `limit` entries after id `after` (integers: COPY takes no parameters)."""
    return (
        f"SELECT {_SELECT} FROM accountability_entries WHERE id > {int(after)} ORDER BY id LIMIT {int(limit)}"
    )


def _EXECUTOR() -> Executor:
    return ThreadPoolExecutor(1, thread_name_prefix="chain-verify")


class _Pipeline:
    """COPY text in, whole lines out to the worker, results settled in order."""

    def __init__(self, previous: str, anchors: Mapping[bytes, bytes], executor: Executor) -> None:
        self.checked = 0
        self.last_id: int | None = None
        self.last_hash = previous
        self.stopped = False
        self.received = 0  # lines of the current segment
        self.tail_id: int | None = None  # the last line received
        self._next_previous = previous
        self._anchors = anchors
        self._executor = executor
        self._buffer: list[bytes] = []
        self._size = 0
        self._pending: deque[asyncio.Future[Batch]] = deque()

    async def sink(self, chunk: bytes) -> None:
        if self.stopped:
            return  # read past the break to the end of the segment: nothing more to prove
        self._buffer.append(chunk)
        self._size += len(chunk)
        if self._size >= _CHUNK:
            data = b"".join(self._buffer)
            cut = data.rfind(b"\n") + 1
            self._buffer, self._size = [data[cut:]], len(data) - cut
            await self._submit(data[:cut])

    async def end_segment(self) -> None:
        data = b"".join(self._buffer)
        self._buffer, self._size = [], 0
        if data and not self.stopped:
            await self._submit(data)

    async def _submit(self, data: bytes) -> None:
        self.received += data.count(b"\n")
        # The next task links to the hash on the last line here: if that line does not prove,
        # this task stops there and the next one's answer is not read.
        last = data[data.rfind(b"\n", 0, len(data) - 1) + 1 :].split(b"\t", 2)
        self.tail_id = int(last[0])
        loop = asyncio.get_running_loop()
        self._pending.append(
            loop.run_in_executor(self._executor, check_copy, data, self._next_previous, self._anchors)
        )
        self._next_previous = last[1].decode(errors="replace")
        while len(self._pending) >= _IN_FLIGHT:
            await self._settle()

    async def _settle(self) -> None:
        result = await self._pending.popleft()
        if self.stopped:
            return
        self.checked += result.checked
        if result.checked:
            self.last_id, self.last_hash = result.last_id, result.last_hash or self.last_hash
        self.stopped = result.stop is not None

    async def drain(self) -> None:
        while self._pending:
            await self._settle()


async def _walk_postgres(
    conn: AsyncConnection, after: int, previous: str, anchors: Mapping[int, str], batch: int
) -> Walk:
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    by_text = {str(k).encode(): v.encode() for k, v in anchors.items()}
    executor = _EXECUTOR()
    try:
        pipe = _Pipeline(previous, by_text, executor)
        start = after
        while not pipe.stopped:
            pipe.received = 0
            await raw.copy_from_query(copy_query(start, batch), output=pipe.sink)
            await pipe.end_segment()
            if pipe.received < batch or pipe.tail_id is None:
                break
            start = pipe.tail_id
        await pipe.drain()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return Walk(pipe.checked, pipe.last_id, pipe.last_hash, pipe.stopped)


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
