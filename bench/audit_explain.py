"""The plans of the auditors' queries as the API issues them: the SQL of one request per case is
captured on the engine (SQLAlchemy's before_cursor_execute) and run again under EXPLAIN (ANALYZE,
BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite; written to bench/results/auditors-explain.txt."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from bench.common import ROOT, log

EXPLAIN_PATH = ROOT / "bench/results/auditors-explain.txt"


@contextlib.contextmanager
def captured(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """(statement, parameters) of every statement on `engine` that reads the log, while inside."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "accountability_entries" in statement:
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


def _numbered(statement: str) -> str:
    """asyncpg takes $1, $2...; a driver-level statement may still carry %s (format paramstyle)."""
    count = iter(range(1, 10_000))
    return re.sub(r"%s", lambda _m: f"${next(count)}", statement) if "%s" in statement else statement


async def _plan(engine: Any, statement: str, parameters: Any, timeout_s: float) -> str:
    params = list(parameters or ())
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        if engine.dialect.name == "sqlite":
            cursor = await raw.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            rows = await cursor.fetchall()
            return "\n".join(f"{r[0]:>3} {r[1]:>3} {r[3]}" for r in rows)
        await raw.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
        try:
            rows = await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {_numbered(statement)}", *params)
        except Exception as exc:  # e.g. statement_timeout: then the plan without running it
            rows = await raw.fetch(f"EXPLAIN {_numbered(statement)}", *params)
            header = f"(EXPLAIN ANALYZE stopped: {type(exc).__name__}: {exc}; the plan alone:)"
            return header + "\n" + "\n".join(r[0] for r in rows)
        finally:
            await raw.execute("RESET statement_timeout")
        return "\n".join(r[0] for r in rows)


async def explain(
    client: httpx.AsyncClient,
    service: Any,
    label: str,
    requests: list[tuple[str, str, dict[str, str]]],
    capture_s: float,
    analyze_s: float,
    path: Path = EXPLAIN_PATH,
    append: bool = False,
) -> int:
    """Issue each (name, path, params) once with capture on (cut off after `capture_s`: what it ran
    by then is captured), then explain what it ran, EXPLAIN ANALYZE stopped after `analyze_s` (then the
    plan alone); write it all (after a header naming the data) to `path`. Returns how many statements
    were explained."""
    sections = [f"==== {label} ====\n"]
    explained = 0
    for name, url, params in requests:
        with captured(service.engine) as seen:
            try:
                async with asyncio.timeout(capture_s):
                    await client.get(url, params=params)
            except TimeoutError:
                sections.append(
                    f"--- {name}: the request took over {capture_s:g} s (cut off); its SQL so far\n"
                )
        for n, (statement, parameters) in enumerate(seen, start=1):
            t0 = time.perf_counter()
            try:
                plan = await _plan(service.engine, statement, parameters, analyze_s)
            except Exception as exc:
                plan = f"(could not explain: {type(exc).__name__}: {exc})"
            took = time.perf_counter() - t0
            explained += 1
            sections.append(
                f"--- {name} [{n} of {len(seen)}]  GET {url} {params}\n"
                f"SQL:\n{statement}\nparameters: {list(parameters or ())!r}\n"
                f"plan ({took:.1f} s to explain):\n{plan}\n"
            )
        log(f"auditors explain {label}: {name}: {len(seen)} statements")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as out:
        out.write("\n".join(sections) + "\n")
    return explained
