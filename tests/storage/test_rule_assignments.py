"""Assignments (约稿) on a fake clock against a real database: reminders before the due time, exactly
one `assignment_overdue` per township that owes it, met by a routine item that answers it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import assignments
from alerting.county.assignments import NewAssignment
from alerting.domain import DeadlineState, EntryKind
from alerting.errors import ConflictError, InvalidReport, UnknownTownship
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines
from tests.storage.test_rule_reports import (
    HOUR,
    entries,
    escalations_of,
    fire,
    routine_item,
    store,
    utc,
    verify_chain,
)

GIVEN = utc(2026, 3, 2, 2)  # Monday 10:00 local
DUE = utc(2026, 3, 10, 16)  # by the end of Tuesday 2026-03-10 local
REMINDERS = [utc(2026, 3, 8, 16), utc(2026, 3, 10, 0)]  # 2 days before; 08:00 on the day (16 h before)


@pytest.fixture(autouse=True)
async def _chain_verifies(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    await verify_chain(engine)


async def give(engine: AsyncEngine, policy: Policy, *towns: str) -> dict[str, Any]:
    new = NewAssignment("春耕备耕工作信息", "请报送本乡镇春耕备耕进展", DUE, towns)
    async with engine.begin() as conn:
        return await assignments.create(conn, new, policy, "信息科李四", GIVEN)


async def rows(engine: AsyncEngine, town: str) -> list[Any]:
    async with engine.connect() as conn:
        query = select(deadlines).where(deadlines.c.township == town).order_by(deadlines.c.due_at)
        return [r for r in (await conn.execute(query)).all() if r.kind.startswith("assignment")]


def answer(town: str, at: datetime, assignment_id: str) -> Any:
    return replace(routine_item(town, at, category="工作动态"), assignment_id=assignment_id)


async def test_reminders_then_one_overdue_entry_for_the_township_that_did_not_answer(
    engine: AsyncEngine, policy: Policy
) -> None:
    made = await give(engine, policy, "城关镇", "梅林镇")
    assert [(p["township"], p["state"]) for p in made["parts"]] == [("城关镇", "owed"), ("梅林镇", "owed")]
    assert [(r.kind, r.due_at) for r in await rows(engine, "梅林镇")] == [
        ("assignment_reminder", REMINDERS[0]),
        ("assignment_reminder", REMINDERS[1]),
        ("assignment", DUE),
    ]

    await fire(engine, policy, REMINDERS[0])  # reminders only: no entry
    assert await entries(engine) == []
    for town in ("城关镇", "梅林镇"):
        [first, *_] = await rows(engine, town)
        [round0] = await escalations_of(engine, first.id)
        assert round0.roles == ["township_officer", "township_leader"]

    # 城关镇 answers on the morning of the due day, after the second reminder's time.
    sent = answer("城关镇", utc(2026, 3, 10, 1), made["id"])
    assert (await store(engine, policy, sent)).late_entries == 0
    assert [(r.kind, r.state, r.met_by) for r in await rows(engine, "城关镇")] == [
        ("assignment_reminder", DeadlineState.MET, sent.submission_id),  # sent, then answered
        ("assignment_reminder", DeadlineState.MET, sent.submission_id),
        ("assignment", DeadlineState.MET, sent.submission_id),
    ]

    await fire(engine, policy, DUE)
    found = await entries(engine)
    assert [(e.kind, e.township, e.responsible, e.occurred_at, e.details) for e in found] == [
        (
            EntryKind.ASSIGNMENT_OVERDUE,
            "梅林镇",
            "梅林镇",
            DUE,
            {
                "deadline": "assignment",
                "due_at": DUE.isoformat(),
                "period": f"assignment:{made['id']}",
                "context": {"assignment_id": made["id"], "title": "春耕备耕工作信息"},
            },
        )
    ]

    # 梅林镇 answers two hours late: the lateness is written too, as for any duty met late.
    late = answer("梅林镇", DUE + 2 * HOUR, made["id"])
    assert (await store(engine, policy, late)).late_entries == 1
    [*_, written] = await entries(engine)
    assert (written.kind, written.township, written.delay_seconds, written.details) == (
        EntryKind.LATE_REPORT,
        "梅林镇",
        7200,
        {
            "deadline": "assignment",
            "due_at": DUE.isoformat(),
            "arrived_at": late.submitted_at.isoformat(),
            "item_id": late.item_id,
            "version": 1,
            "category": "工作动态",
        },
    )
    async with engine.connect() as conn:
        parts = (await assignments.get(conn, made["id"]))["parts"]
    assert [(p["township"], p["state"]) for p in parts] == [("城关镇", "met"), ("梅林镇", "met")]


async def test_bad_assignments_and_answers_are_refused(engine: AsyncEngine, policy: Policy) -> None:
    async with engine.begin() as conn:
        with pytest.raises(ConflictError, match="the due time is in the past"):
            await assignments.create(conn, NewAssignment("t", "", GIVEN, ()), policy, "信息科", GIVEN)
        with pytest.raises(UnknownTownship, match="不存在镇"):
            await assignments.create(
                conn, NewAssignment("t", "", DUE, ("不存在镇",)), policy, "信息科", GIVEN
            )
    made = await give(engine, policy, "城关镇")
    with pytest.raises(InvalidReport, match=f"assignment {made['id']} was not given to 梅林镇"):
        await store(engine, policy, answer("梅林镇", GIVEN + HOUR, made["id"]))
    with pytest.raises(InvalidReport, match="unknown assignment asg-none"):
        await store(engine, policy, answer("城关镇", GIVEN + HOUR, "asg-none"))
    everyone = await give(engine, policy)  # no townships named: the whole directory
    assert [p["township"] for p in everyone["parts"]] == sorted(policy.townships)
    assert await entries(engine) == []
