"""Pending deadlines seeded straight into the tables, and read-only probes of what became of them."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bench.common import SEED_KINDS, TOWNSHIPS, utcnow


def spread(start: datetime, window: timedelta, n: int) -> list[datetime]:
    """n instants evenly over [start, start + window)."""
    return [start + window * (i / n) for i in range(n)]


def _rows(
    prefix: str, due: Sequence[datetime], now: datetime, kinds: Sequence[str] = SEED_KINDS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Open incidents, each with one pending deadline of each of `kinds`, due at the instants of
    `due` in turn; the incidents' titles are numbered (基准测试事件N)."""
    per = len(kinds)
    incidents: list[dict[str, Any]] = []
    deadlines: list[dict[str, Any]] = []
    for i, due_at in enumerate(due):
        incident_id = f"{prefix}-{i // per:07d}"
        if i % per == 0:
            township = TOWNSHIPS[(i // per) % len(TOWNSHIPS)]
            incidents.append(
                {
                    "id": incident_id,
                    "township": township,
                    "level": "II",
                    "category": "安全生产",
                    "title": f"基准测试事件{i // per}",
                    "status": "open",
                    "origin": "township",
                    "occurred_at": now - timedelta(minutes=30),
                    "known_at": now - timedelta(minutes=20),
                    "opened_at": now - timedelta(minutes=20),
                    "updated_at": now,
                }
            )
        deadlines.append(
            {
                "incident_id": incident_id,
                "township": incidents[-1]["township"],
                "kind": kinds[i % per],
                "seq": 0,
                "period": None,
                "due_at": due_at,
                "state": "pending",
                "fire_at": due_at,
                "next_round": 0,
                "context": None,
                "created_at": now,
            }
        )
    return incidents, deadlines


def _seed_sqlite(url: str, incidents: list[dict[str, Any]], deadlines: list[dict[str, Any]]) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from alerting.storage import schema

    path = make_url(url).database
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60})
    try:
        with engine.begin() as conn:
            for table, rows in ((schema.incidents, incidents), (schema.deadlines, deadlines)):
                for i in range(0, len(rows), 20_000):
                    conn.execute(table.insert(), rows[i : i + 20_000])
    finally:
        engine.dispose()


async def _seed_postgres(url: str, incidents: list[dict[str, Any]], deadlines: list[dict[str, Any]]) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for table, rows in (("incidents", incidents), ("deadlines", deadlines)):
                if not rows:
                    continue
                columns = list(rows[0])
                await conn.copy_records_to_table(
                    table, records=[tuple(r[c] for c in columns) for r in rows], columns=columns
                )
        await conn.execute("ANALYZE incidents; ANALYZE deadlines")
    finally:
        await conn.close()


async def seed(url: str, due: Sequence[datetime], prefix: str, kinds: Sequence[str] = SEED_KINDS) -> int:
    """Insert one pending deadline per instant in `due`, one of each of `kinds` per incident (five by
    default); returns the count."""
    incidents, deadlines = _rows(prefix, due, utcnow(), kinds)
    if url.startswith("sqlite"):
        await asyncio.to_thread(_seed_sqlite, url, incidents, deadlines)
    else:
        await _seed_postgres(url, incidents, deadlines)
    return len(deadlines)


def reader(url: str) -> Any:
    """An engine for read-only probes. Not the product's create_engine: on SQLite that one opens every
    transaction with BEGIN IMMEDIATE (the write lock), so a probe would queue behind, and hold up,
    the writers it is watching."""
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})


async def seeded_escalations(url: str, prefix: str) -> list[Any]:
    """(deadline_id, round, fired_at, scheduled_for, due_at) of escalations of seeded deadlines."""
    from sqlalchemy import select

    from alerting.storage.schema import deadlines, escalations

    engine = reader(url)
    try:
        async with engine.connect() as conn:
            query = (
                select(
                    escalations.c.deadline_id,
                    escalations.c.round,
                    escalations.c.fired_at,
                    escalations.c.scheduled_for,
                    deadlines.c.due_at,
                )
                .join(deadlines, deadlines.c.id == escalations.c.deadline_id)
                .where(escalations.c.incident_id.like(f"{prefix}-%"))
            )
            return list((await conn.execute(query)).all())
    finally:
        await engine.dispose()


async def count_rows(url: str, table: str, where: str = "") -> int:
    from sqlalchemy import text

    engine = reader(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(f"SELECT count(*) FROM {table} {where}"))).scalar_one())
    finally:
        await engine.dispose()


def far_future(n: int, now: datetime | None = None) -> list[datetime]:
    """n pending deadlines due between 1 h and 25 h from now: they stay pending during a benchmark."""
    return spread((now or utcnow()) + timedelta(hours=1), timedelta(hours=24), n)


def _main(argv: Iterable[str] | None = None) -> None:
    """`python -m bench.seeding seed URL --count N --prefix P`: seed pending rows from another process."""
    parser = argparse.ArgumentParser(prog="python -m bench.seeding")
    sub = parser.add_subparsers(dest="command", required=True)
    seeding = sub.add_parser("seed")
    seeding.add_argument("url")
    seeding.add_argument("--count", type=int, required=True)
    seeding.add_argument("--prefix", required=True)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command == "seed":
        n = asyncio.run(seed(args.url, far_future(args.count), args.prefix))
        print(json.dumps({"seeded": n}))


if __name__ == "__main__":
    _main()
