"""Bulk inserts (COPY on PostgreSQL): values land as an INSERT writes them, and a conflict is the
IntegrityError the consumer treats as bad input, not as an unavailable database."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.storage.bulk import insert_numbered, insert_rows
from alerting.storage.schema import deadlines, incidents
from consumers.intake import incident_values
from tests.storage.factories import T0, make_report

SHANGHAI = timezone(timedelta(hours=8))


def deadline_row(incident_id: str, context: dict[str, str] | None) -> dict[str, object]:
    return {
        "incident_id": incident_id,
        "township": "城关镇",
        "kind": "ack",
        "seq": 0,
        "period": None,
        "due_at": T0.astimezone(SHANGHAI),  # stored as UTC whatever the offset given
        "state": "pending",
        "fire_at": T0,
        "next_round": 0,
        "context": context,
        "created_at": T0,
    }


async def test_bulk_rows_read_back_as_inserted(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(select(1))  # the transaction is open, as in intake
        await insert_rows(conn, incidents, [incident_values(make_report(f"inc-{n}"), T0) for n in range(3)])
        await insert_rows(
            conn, deadlines, [deadline_row("inc-0", {"since": "x"}), deadline_row("inc-1", None)]
        )
    async with engine.connect() as conn:
        rows = (await conn.execute(select(deadlines).order_by(deadlines.c.incident_id))).all()
        opened = (
            await conn.execute(select(incidents.c.opened_at).where(incidents.c.id == "inc-2"))
        ).scalar_one()
    assert [(r.incident_id, r.context, r.due_at, r.fire_at) for r in rows] == [
        ("inc-0", {"since": "x"}, T0, T0),
        ("inc-1", None, T0, T0),
    ]
    assert rows[0].due_at.tzinfo is UTC
    assert opened == make_report("inc-2").reported_at


async def test_a_conflict_is_an_integrity_error_and_nothing_stays(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await insert_rows(conn, incidents, [incident_values(make_report("inc-1"), T0)])
    with pytest.raises(IntegrityError) as raised:
        async with engine.begin() as conn:
            await conn.execute(select(1))
            await insert_rows(
                conn, incidents, [incident_values(make_report(n), T0) for n in ("inc-2", "inc-1")]
            )
    if engine.dialect.name == "postgresql":  # it came from COPY, not from an INSERT
        assert isinstance(raised.value.orig, asyncpg.UniqueViolationError)
    async with engine.connect() as conn:
        ids = (await conn.execute(select(incidents.c.id))).scalars().all()
    assert ids == ["inc-1"]


async def test_nothing_to_insert_is_a_no_op(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await insert_rows(conn, incidents, [])
    async with engine.connect() as conn:
        assert (await conn.execute(select(incidents.c.id))).first() is None


async def test_numbered_rows_get_ascending_ids_in_their_order_and_later_inserts_follow(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(incidents.insert(), incident_values(make_report(incident_id="INC-N"), T0))
        first = await insert_numbered(conn, deadlines, [{**deadline_row("INC-N", None), "seq": 1}])
        many = await insert_numbered(
            conn, deadlines, [{**deadline_row("INC-N", None), "seq": n} for n in range(2, 7)]
        )
        after = (
            await conn.execute(
                deadlines.insert().returning(deadlines.c.id), {**deadline_row("INC-N", None), "seq": 7}
            )
        ).scalar_one()
        stored = {r.id: r.seq for r in await conn.execute(select(deadlines.c.id, deadlines.c.seq))}
    assert many == sorted(many) and len(set(many)) == 5 and first[0] < many[0] < after
    assert [stored[i] for i in first + many] == [1, 2, 3, 4, 5, 6]
    assert stored[after] == 7  # the sequence (or SQLite's rowid) was not handed out twice
