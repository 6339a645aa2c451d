"""Proving the log on PostgreSQL, in the database: it rebuilds each entry's canonical text from the row
(the details as stored: json_text writes them as the chain encodes them), recomputes the SHA-256,
checks each link to the entry before, and sends back only the rows it could not prove, with the
first and last row of each segment of the id range. Segments are proved on two connections at
once (the hashing is the database's CPU, so a second core halves it); Python links the segments
and proves what came back the slower way (digest.py), off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.digest import Unreadable, proved_text, unescape_copy
from alerting.storage.schema import accountability_entries as entries

SEGMENT = 50_000  # ids per statement: what a break costs to read past, at most
PARALLEL = 2  # connections proving segments at once
_CHUNK = 1 << 19  # bytes of returned rows proved per task


class Walk(NamedTuple):
    checked: int  # entries proved
    last_id: int | None  # the last one proved (None: none)
    last_hash: str  # its hash, or the hash the walk started from
    stopped: bool  # True: the entry after last_id (or after the start) was not proved


def _time(column: str) -> str:
    # Python's isoformat() of the UTC time: no fraction when it is zero.
    pattern = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'
    return f"replace(to_char({column} AT TIME ZONE 'UTC', '{pattern}'), '.000000+', '+')"


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


# JSON as json.dumps writes it: a string with nothing to escape between quotes, any other through
# to_json (the same escapes). prev_hash goes in as it is: a row is proved only if it is linked too.
_HEAD = (
    f"""'{{"deadline_id":' || {_number("deadline_id")}"""
    f""" || ',"delay_seconds":' || {_number("delay_seconds")} || ',"details":'"""
)
_PLAIN = _tail(lambda c: f"""COALESCE('"' || {c} || '"', 'null')""")
_ESCAPED = _tail(lambda c: f"COALESCE(to_json({c})::text, 'null')")
_STRINGS = "concat(incident_id, kind, report_id, responsible, township)"
_TAIL = f"""CASE WHEN {_STRINGS} ~ '[[:cntrl:]"\\\\]' THEN {_ESCAPED} ELSE {_PLAIN} END"""
_OMIT_PROVED = ", ".join(f"CASE WHEN proved THEN '' ELSE {c} END" for c in ("head", "tail", "details"))


def segment_query(low: int, high: int, anchored: list[int]) -> str:
    """The rows with low < id <= high that need Python: the first and the last, any the database
    could not prove (content or link to the row before) and any a bulletin anchored. COPY takes no
    parameters: the values are integers written in."""
    anchors = f" OR id IN ({', '.join(str(int(i)) for i in anchored)})" if anchored else ""
    return f"""
SELECT n, id, hash, prev_hash, COALESCE(before, ''), COALESCE(before_id::text, ''),
       CASE WHEN proved THEN 't' ELSE 'f' END, {_OMIT_PROVED}
FROM (
  SELECT *, COALESCE(encode(sha256(convert_to(head || details || tail, 'UTF8')), 'hex') = hash, false)
         AS proved
  FROM (
    SELECT row_number() OVER w AS n, id, hash, prev_hash, lag(hash) OVER w AS before,
           lag(id) OVER w AS before_id, lead(id) OVER w IS NULL AS last,
           {_HEAD} AS head, {_TAIL} AS tail, details::text AS details
    FROM accountability_entries WHERE id > {int(low)} AND id <= {int(high)}
    WINDOW w AS (ORDER BY id)
  ) rows
) checked
WHERE n = 1 OR last OR NOT proved OR prev_hash IS DISTINCT FROM before{anchors}
ORDER BY n"""


class Line(NamedTuple):
    n: int  # position in the segment, from 1
    entry_id: int
    hash: str
    prev_hash: str
    before_id: int | None  # the row before it in the segment (None for the first)
    before: str


class Judged(NamedTuple):
    first: Line | None
    last: Line | None
    stop: Line | None  # the first row not proved (the first row's link is left to the caller)


def judge(data: bytes, anchors: Mapping[bytes, bytes]) -> Judged:
    """Prove the returned rows (whole COPY lines of segment_query) as far as one segment can."""
    first = last = stop = None
    for raw in data.split(b"\n"):
        if not raw:
            continue
        fields = raw.split(b"\t")
        n, entry_id, digest, prev, before, before_id = fields[:6]
        line = Line(
            int(n), int(entry_id), digest.decode(), prev.decode(errors="replace"),
            int(before_id) if before_id else None, before.decode(),
        )  # fmt: skip
        first = first or line
        last = line
        if stop is None and not _proved(line, fields, anchors):
            stop = line
    return Judged(first, last, stop)


def _proved(line: Line, fields: list[bytes], anchors: Mapping[bytes, bytes]) -> bool:
    anchored = anchors.get(fields[1])
    if anchored is not None and anchored != fields[2]:
        return False
    if line.n > 1 and fields[3] != fields[4]:
        return False
    if fields[6] == b"t":
        return True
    try:  # stored otherwise than the chain encodes it (a row from before json_text sorted keys)
        head, tail, details = (unescape_copy(f) for f in fields[7:10])
        return proved_text(head, tail, details, line.hash)
    except (ValueError, UnicodeDecodeError, Unreadable):
        return False


class _Segment:
    """One segment's COPY output, proved a chunk at a time in the worker as it arrives."""

    def __init__(self, anchors: Mapping[bytes, bytes], executor: Executor) -> None:
        self._anchors, self._executor = anchors, executor
        self._buffer = bytearray()
        self._parts: list[Judged] = []

    async def sink(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) >= _CHUNK:
            cut = self._buffer.rfind(b"\n") + 1
            data = bytes(self._buffer[:cut])
            del self._buffer[:cut]
            await self._prove(data)

    async def _prove(self, data: bytes) -> None:
        if self._parts and self._parts[-1].stop is not None:
            return  # the segment already stops earlier
        loop = asyncio.get_running_loop()
        self._parts.append(await loop.run_in_executor(self._executor, judge, data, self._anchors))

    async def result(self) -> Judged:
        if self._buffer:
            await self._prove(bytes(self._buffer))
        if not self._parts:
            return Judged(None, None, None)
        stop = next((p.stop for p in self._parts if p.stop is not None), None)
        return Judged(self._parts[0].first, self._parts[-1].last, stop)


async def walk(
    conn: AsyncConnection,
    after: int,
    previous: str,
    anchors: Mapping[int, str],
    segment: int = SEGMENT,
    parallel: int = PARALLEL,
) -> Walk:
    """Prove the entries with id > `after` up to the newest at the start, in order, the first linking
    to `previous`, until the first entry not proved."""
    high = (await conn.execute(select(func.max(entries.c.id)))).scalar()
    if high is None or high <= after:
        return Walk(0, None, previous, False)
    bounds = [(low, min(low + segment, high)) for low in range(after, high, segment)]
    by_text = {str(k).encode(): v.encode() for k, v in anchors.items()}
    executor = ThreadPoolExecutor(1, thread_name_prefix="chain-verify")
    results: list[asyncio.Future[Judged]] = [asyncio.get_running_loop().create_future() for _ in bounds]
    queue = iter(range(len(bounds)))
    done = asyncio.Event()

    async def prove_segments(raw: Any) -> None:
        for index in queue:
            if done.is_set():
                return
            low, high = bounds[index]
            target = _Segment(by_text, executor)
            query = segment_query(low, high, sorted(i for i in anchors if low < i <= high))
            try:
                await raw.copy_from_query(query, output=target.sink)
                results[index].set_result(await target.result())
            except Exception as error:  # handed to the walk, which raises it in order
                results[index].set_exception(error)
                return

    async with AsyncExitStack() as stack:
        raws = [(await conn.get_raw_connection()).driver_connection]
        for _ in range(min(parallel, len(bounds)) - 1):
            extra = await stack.enter_async_context(conn.engine.connect())
            raws.append((await extra.get_raw_connection()).driver_connection)
        workers = [asyncio.create_task(prove_segments(raw)) for raw in raws]
        try:
            return await _linked(results, previous)
        finally:
            done.set()
            await asyncio.gather(*workers, return_exceptions=True)
            executor.shutdown(wait=False, cancel_futures=True)
            for future in results:
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: a later segment's error after a stop is moot
    raise AssertionError("unreachable")


async def _linked(results: list[asyncio.Future[Judged]], previous: str) -> Walk:
    """The segments' results in order, each first row linked to the last row before it."""
    checked, last_id, last_hash = 0, None, previous
    for future in results:
        first, last, stop = await future
        if first is None or last is None:
            continue  # no ids in this range
        if first.prev_hash != last_hash or (stop is not None and stop.n == 1):
            return Walk(checked, last_id, last_hash, True)
        if stop is not None:
            assert stop.before_id is not None
            return Walk(checked + stop.n - 1, stop.before_id, stop.before, True)
        checked, last_id, last_hash = checked + last.n, last.entry_id, last.hash
    return Walk(checked, last_id, last_hash, False)
