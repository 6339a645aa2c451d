"""Loading a generated accountability log into PostgreSQL: a child process generates the days and
COPYs the incidents, deadlines and reports; this process hash-chains the entries (the sequential
part) and COPYs them; secondary indexes are dropped for the load and rebuilt after, two at a time."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import orjson

from bench.audit_chain import GENESIS_HASH, chain, copy_lines
from bench.audit_gen import SeedParams, generate
from bench.audit_rows import (
    DEADLINE_COLUMNS,
    ENTRY_COLUMNS,
    INCIDENT_COLUMNS,
    JSON_COLUMNS,
    REPORT_COLUMNS,
    TIME_COLUMNS,
    iso,
)
from bench.common import log

TABLES = {
    "incidents": INCIDENT_COLUMNS,
    "deadlines": DEADLINE_COLUMNS,
    "reports": REPORT_COLUMNS,
    "accountability_entries": ENTRY_COLUMNS,
}
BATCH_ENTRIES = 20_000  # entries per message from the generating process
CHECKED_TRIGGERS = ("deadlines", "reports")  # statement-level reference checks (migration 0006)


def _formatter(columns: Sequence[str]) -> Any:
    """A function from a generated row to its COPY text line."""
    kinds = ["time" if c in TIME_COLUMNS else "json" if c in JSON_COLUMNS else "plain" for c in columns]

    def line(row: Sequence[Any]) -> str:
        fields = []
        for kind, value in zip(kinds, row, strict=True):
            if value is None:
                fields.append("\\N")
            elif kind == "time":
                fields.append(iso(value))
            elif kind == "json":
                fields.append(orjson.dumps(value).decode().replace("\\", "\\\\"))
            elif value is True or value is False:
                fields.append("t" if value else "f")
            else:
                fields.append(str(value))
        return "\t".join(fields)

    return line


async def _side_tables(params: SeedParams, dsn: str, out: Any) -> None:
    """Generate every day: incidents, deadlines and reports COPYed here (one connection each), the
    entries sent to the parent in batches, then None."""
    loop = asyncio.get_running_loop()
    queues: dict[str, asyncio.Queue[bytes | None]] = {
        t: asyncio.Queue(maxsize=8) for t in TABLES if t != "accountability_entries"
    }
    formats = {t: _formatter(TABLES[t]) for t in queues}

    async def copy(table: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:

            async def source() -> AsyncIterator[bytes]:
                while (chunk := await queues[table].get()) is not None:
                    yield chunk

            await conn.copy_to_table(table, source=source(), columns=list(TABLES[table]), format="text")
        finally:
            await conn.close()

    tasks = [asyncio.create_task(copy(t)) for t in queues]
    pending: dict[str, list[Any]] = {t: [] for t in queues}
    entries: list[Any] = []

    async def flush() -> None:
        for table, rows in pending.items():
            if rows:
                text = "\n".join(formats[table](r) for r in rows) + "\n"
                await queues[table].put(text.encode())
                rows.clear()
        await loop.run_in_executor(None, out.put, list(entries))
        entries.clear()
        for task in tasks:
            if task.done():
                task.result()  # a failed COPY stops the generation at once

    for day in generate(params):
        pending["incidents"] += day.incidents
        pending["deadlines"] += day.deadlines
        pending["reports"] += day.reports
        entries.extend(day.entries)
        if len(entries) >= BATCH_ENTRIES:
            await flush()
    await flush()
    await loop.run_in_executor(None, out.put, None)
    for queue in queues.values():
        await queue.put(None)
    await asyncio.gather(*tasks)


def side_process(params: SeedParams, dsn: str, out: Any) -> None:
    asyncio.run(_side_tables(params, dsn, out))


async def load(params: SeedParams, dsn: str) -> dict[str, float]:
    """Generate and load everything into the migrated database at `dsn`; timings in seconds."""
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        rebuild = await _drop_indexes(conn, list(TABLES))
        for table in CHECKED_TRIGGERS:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, not a fork of this loop
        queue = context.Queue(maxsize=6)
        child = context.Process(target=side_process, args=(params, dsn, queue), name="audit-seed-side")
        child.start()
        loop = asyncio.get_running_loop()
        done = 0

        async def entries() -> AsyncIterator[bytes]:
            nonlocal done
            prev = GENESIS_HASH
            while True:
                batch = await loop.run_in_executor(None, queue.get)
                if batch is None:
                    return
                rows, prev = chain(batch, prev)
                done += len(rows)
                if done % 1_000_000 < len(rows):
                    log(f"audit seed: {done:,} of {params.entries:,} entries chained")
                yield copy_lines(rows)

        await conn.copy_to_table(
            "accountability_entries", source=entries(), columns=list(ENTRY_COLUMNS), format="text"
        )
        await loop.run_in_executor(None, child.join)
        if child.exitcode != 0:
            raise RuntimeError(f"the generating process exited with {child.exitcode}")
        timings["load_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        await _rebuild(dsn, rebuild)
        for table in CHECKED_TRIGGERS:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        timings["indexes_s"] = time.perf_counter() - t1
        await _check_references(conn)
        for table in ("accountability_entries", "deadlines"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    finally:
        await conn.close()
    return timings


async def _drop_indexes(conn: asyncpg.Connection, tables: list[str]) -> list[list[str]]:
    """Drop every index but the primary keys of `tables` (a random hash is costly to insert into a
    btree row by row, cheap to sort once); the statements that rebuild each, in order."""
    rebuild: list[list[str]] = []
    for table in tables:
        constraints = {
            r["conname"]: r["contype"]
            for r in await conn.fetch(
                "SELECT conname, contype::text AS contype FROM pg_constraint WHERE conrelid = $1::regclass",
                table,
            )
        }
        # Indexes that foreign keys from other tables lean on stay.
        referenced = {
            r["name"]
            for r in await conn.fetch(
                "SELECT conindid::regclass::text AS name FROM pg_constraint "
                "WHERE confrelid = $1::regclass AND contype = 'f'",
                table,
            )
        }
        for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1", table
        ):
            name, definition = r["indexname"], r["indexdef"]
            kind = constraints.get(name)
            if kind == "p" or name in referenced:
                continue
            if kind == "u":
                await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                rebuild.append(
                    [definition, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}"']
                )
            else:
                await conn.execute(f'DROP INDEX "{name}"')
                rebuild.append([definition])
    return rebuild


async def _rebuild(dsn: str, statements: list[list[str]]) -> None:
    """Two index builds at a time (two cores), each on its own connection."""
    todo = list(statements)

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET maintenance_work_mem = '1GB'; SET max_parallel_maintenance_workers = 0")
            while todo:
                for statement in todo.pop(0):
                    await conn.execute(statement)
        finally:
            await conn.close()

    await asyncio.gather(worker(), worker())


async def _check_references(conn: asyncpg.Connection) -> None:
    """What the disabled statement triggers would have checked: no report or deadline without its
    incident."""
    for table in CHECKED_TRIGGERS:
        orphans = await conn.fetchval(
            f"SELECT count(*) FROM {table} t WHERE t.incident_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = t.incident_id)"
        )
        if orphans:
            raise RuntimeError(f"{orphans} {table} rows without their incident")
