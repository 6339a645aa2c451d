"""SQLite writers in one process queue on one lock, first come first served; PostgreSQL needs none."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.storage.engine import reading, write_lock


async def test_writers_take_turns_in_arrival_order(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        assert isinstance(write_lock(engine), contextlib.nullcontext)
        return
    assert write_lock(engine) is write_lock(engine)
    inside: list[int] = []
    order: list[int] = []

    async def writer(n: int) -> None:
        async with write_lock(engine), engine.begin() as conn:
            inside.append(n)
            assert len(inside) == 1  # nobody else holds the write transaction
            order.append(n)
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0)  # give the others a chance to barge in
            inside.remove(n)

    await asyncio.gather(*(writer(n) for n in range(8)))
    assert order == list(range(8))


async def test_a_reader_does_not_wait_for_a_writer(engine: AsyncEngine) -> None:
    """Exports, verification and token look-ups read through `reading`: while a writer (firing)
    holds its transaction open, they go on and see what was committed before it."""
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE probe (n INTEGER)"))
        await conn.execute(text("INSERT INTO probe VALUES (1)"))
    async with write_lock(engine), engine.begin() as writer:
        await writer.execute(text("INSERT INTO probe VALUES (2)"))  # holds the write lock, uncommitted
        async with reading(engine) as reader:
            seen = (await reader.execute(text("SELECT n FROM probe ORDER BY n"))).scalars().all()
    assert seen == [1]
    async with reading(engine) as reader:
        assert (await reader.execute(text("SELECT n FROM probe ORDER BY n"))).scalars().all() == [1, 2]
