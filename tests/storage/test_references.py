"""A row that refers to a missing incident, deadline or escalation is refused on both backends, by
COPY and by INSERT, with the IntegrityError the consumer treats as bad input (SQLite: foreign keys;
PostgreSQL: the statement triggers of migration 0006)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Table, func, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerting.storage.bulk import insert_rows
from alerting.storage.engine import alembic_config, create_engine, upgrade
from alerting.storage.schema import deadlines, escalations, incidents, notifications, reports
from consumers.intake import incident_values, report_values
from tests.storage.factories import T0, make_report
from tests.support import example_policy


def _deadline(incident_id: str | None) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "township": "城关镇",
        "kind": "ack",
        "seq": 0,
        "period": None if incident_id else "2026-03",
        "due_at": T0,
        "state": "pending",
        "fire_at": T0,
        "next_round": 0,
        "context": None,
        "created_at": T0,
    }


def _escalation(deadline_id: int, incident_id: str | None) -> dict[str, Any]:
    return {
        "deadline_id": deadline_id,
        "incident_id": incident_id,
        "township": "城关镇",
        "round": 0,
        "step": 0,
        "roles": ["duty_officer"],
        "recipients": [],
        "fired_at": T0,
        "scheduled_for": T0,
    }


def _notification(escalation_id: int, incident_id: str | None) -> dict[str, Any]:
    return {
        "escalation_id": escalation_id,
        "incident_id": incident_id,
        "channel": "county",
        "idempotency_key": f"k-{escalation_id}-{incident_id}",
        "payload": {"text": "x"},
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": T0,
        "created_at": T0,
    }


def _report(incident_id: str) -> dict[str, Any]:
    report = make_report(incident_id, report_id=f"r-{incident_id}")
    return {**report_values(report, example_policy("http://127.0.0.1:9/h"), T0), "late_by_seconds": None}


async def _parents(engine: AsyncEngine) -> tuple[int, int]:
    """An incident `inc-1` with a deadline and an escalation; their ids."""
    async with engine.begin() as conn:
        await conn.execute(incidents.insert(), [incident_values(make_report("inc-1"), T0)])
        deadline_id = (
            await conn.execute(deadlines.insert().returning(deadlines.c.id), [_deadline("inc-1")])
        ).scalar_one()
        escalation_id = (
            await conn.execute(
                escalations.insert().returning(escalations.c.id), [_escalation(deadline_id, "inc-1")]
            )
        ).scalar_one()
    return deadline_id, escalation_id


def _cases(deadline_id: int, escalation_id: int) -> list[tuple[Table, dict[str, Any], dict[str, Any]]]:
    """(table, a valid row, the same row with one reference missing) for every checked reference."""
    return [
        (reports, _report("inc-1"), _report("inc-404")),
        (deadlines, {**_deadline("inc-1"), "kind": "final_report"}, _deadline("inc-404")),
        (escalations, _escalation(deadline_id, "inc-1") | {"round": 1}, _escalation(999_999, "inc-1")),
        (escalations, _escalation(deadline_id, "inc-1") | {"round": 2}, _escalation(deadline_id, "inc-404")),
        (notifications, _notification(escalation_id, "inc-1"), _notification(999_999, "inc-1")),
        (notifications, _notification(escalation_id, None), _notification(escalation_id, "inc-404")),
    ]


async def _count(conn: AsyncConnection, table: Table) -> int:
    return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


@pytest.mark.parametrize("how", ["bulk", "insert"])
async def test_an_orphan_is_refused_and_its_batch_with_it(engine: AsyncEngine, how: str) -> None:
    deadline_id, escalation_id = await _parents(engine)
    for table, valid, orphan in _cases(deadline_id, escalation_id):
        async with engine.connect() as conn:
            before = await _count(conn, table)
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(select(1))  # in a transaction, as intake and firing are: COPY
                if how == "bulk":
                    await insert_rows(conn, table, [valid, orphan])
                else:
                    await conn.execute(table.insert(), [valid, orphan])
        async with engine.connect() as conn:
            assert await _count(conn, table) == before, table.name
        async with engine.begin() as conn:  # the valid row alone goes in
            await conn.execute(select(1))
            await insert_rows(conn, table, [valid])


async def test_a_reference_changed_to_a_missing_row_is_refused(engine: AsyncEngine) -> None:
    deadline_id, escalation_id = await _parents(engine)
    changes = [
        (deadlines, deadlines.c.id == deadline_id, {"incident_id": "inc-404"}),
        (escalations, escalations.c.id == escalation_id, {"deadline_id": 999_999}),
    ]
    for table, where, values in changes:
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(update(table).where(where).values(**values))
    async with engine.begin() as conn:  # a change to NULL is allowed, and so is one to another column
        await conn.execute(
            update(escalations).where(escalations.c.id == escalation_id).values(incident_id=None)
        )
        await conn.execute(update(deadlines).where(deadlines.c.id == deadline_id).values(state="met"))


async def test_downgrading_puts_the_foreign_keys_back(pg_url: str) -> None:
    await asyncio.to_thread(upgrade, pg_url)
    config = alembic_config(pg_url)
    await asyncio.to_thread(command.downgrade, config, "0005")
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as conn:
            keys = await conn.run_sync(lambda c: inspect(c).get_foreign_keys("deadlines"))
        assert [k["name"] for k in keys] == ["fk_deadlines_incident_id_incidents"]
        await asyncio.to_thread(upgrade, pg_url)
        async with engine.connect() as conn:
            keys = await conn.run_sync(lambda c: inspect(c).get_foreign_keys("deadlines"))
        assert keys == []
    finally:
        await engine.dispose()
