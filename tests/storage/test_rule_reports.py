"""The county's report rules driven through their timelines against a real database, on a fake clock.

Every expectation below comes from deploy/policy.example.toml. Times are UTC; the policy's zone is
Asia/Shanghai (UTC+8), so 2026-03-02T01:00Z is Monday 09:00 local.

The small helpers at the top are shared with test_rule_county.py and test_rule_duties.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.domain import (
    DeadlineKind,
    DeadlineState,
    EntryKind,
    Level,
    Report,
    Reporter,
    ReportType,
    RoutineItem,
)
from alerting.events import EventKind
from alerting.policy.model import Policy
from alerting.storage.schema import (
    accountability_entries,
    deadlines,
    escalations,
    incident_events,
    incidents,
)
from consumers.intake import IntakeResult, store_report
from consumers.items import store_item
from escalation.engine import Fired, fire_due
from tests.storage.factories import make_report
from tests.storage.test_chain import _assert_unbroken
from tests.support import firing_for

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
MICRO = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# The township learns of the incident on Monday 2026-03-02 at 09:00 local; its first report reaches
# the county a minute later.
KNOWN = utc(2026, 3, 2, 1)
RECEIVED = KNOWN + MIN


# --- shared helpers ----------------------------------------------------------------------------


def report(
    incident_id: str,
    type_: ReportType = ReportType.FIRST,
    *,
    level: Level = Level.II,
    known_at: datetime = KNOWN,
    reported_at: datetime | None = None,
    township: str = "城关镇",
    **facts: Any,
) -> Report:
    """A report; `facts` sets category, place, deaths and the like. Its id is unique per arrival."""
    reported_at = reported_at or known_at + MIN
    made = make_report(
        incident_id,
        report_id=f"{incident_id}-{type_.value}-{reported_at:%m%dT%H%M%S}",
        township=township,
        type_=type_,
        level=level,
        known_at=known_at,
        reported_at=reported_at,
    )
    return replace(made, **facts) if facts else made


def routine_item(
    township: str, at: datetime, category: str = "重点项目", version_of: str | None = None
) -> RoutineItem:
    """A routine item received at `at`; `version_of` makes it a new version of that item."""
    submission_id = f"{township}-{category}-{at:%m%dT%H%M%S}"
    return RoutineItem(
        submission_id=submission_id,
        item_id=version_of or submission_id,
        township=township,
        category=category,
        title=f"{township}{category}",
        text="正文",
        submitted_at=at,
        reporter=Reporter("信息员", "0791-80000009"),
    )


async def store(engine: AsyncEngine, policy: Policy, item: Report | RoutineItem) -> IntakeResult:
    """The report or routine item arrives and is stored at its own receipt time."""
    async with engine.begin() as conn:
        if isinstance(item, RoutineItem):
            return await store_item(conn, item, policy, item.submitted_at)
        return await store_report(conn, item, policy, item.reported_at)


async def fire(engine: AsyncEngine, policy: Policy, now: datetime) -> list[Fired]:
    async with engine.begin() as conn:
        return await fire_due(conn, firing_for(policy), now)


def fired_kinds(fired: list[Fired]) -> list[DeadlineKind]:
    return [f.kind for f in fired]


async def deadline(
    engine: AsyncEngine, kind: DeadlineKind, *, incident_id: str | None = None, township: str | None = None
) -> Any:
    """The one deadline row of `kind` for an incident (seq 0) or a township duty."""
    where = [deadlines.c.kind == kind.value]
    if incident_id is not None:
        where += [deadlines.c.incident_id == incident_id, deadlines.c.seq == 0]
    if township is not None:
        where.append(deadlines.c.township == township)
    async with engine.connect() as conn:
        return (await conn.execute(select(deadlines).where(*where))).one()


async def followups(engine: AsyncEngine, incident_id: str) -> dict[int, Any]:
    """The incident's follow-up slots by number (seq)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(deadlines).where(
                    deadlines.c.incident_id == incident_id, deadlines.c.kind == DeadlineKind.FOLLOWUP.value
                )
            )
        ).all()
    return {row.seq: row for row in rows}


async def entries(engine: AsyncEngine, kind: EntryKind | None = None, **equal: Any) -> list[Any]:
    """Accountability entries, oldest first, filtered by kind and column values."""
    where = [accountability_entries.c[name] == value for name, value in equal.items()]
    if kind is not None:
        where.append(accountability_entries.c.kind == kind.value)
    async with engine.connect() as conn:
        query = select(accountability_entries).where(*where).order_by(accountability_entries.c.id)
        return list((await conn.execute(query)).all())


async def escalations_of(engine: AsyncEngine, deadline_id: int) -> list[Any]:
    async with engine.connect() as conn:
        query = select(escalations).where(escalations.c.deadline_id == deadline_id)
        return list((await conn.execute(query.order_by(escalations.c.round))).all())


async def verify_chain(engine: AsyncEngine) -> None:
    """Every accountability entry written so far re-hashes to its stored hash, in one unbroken chain."""
    rows = await entries(engine)
    if rows:
        _assert_unbroken(rows)


@pytest.fixture(autouse=True)
async def _chain_verifies(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    await verify_chain(engine)


# --- first and written reports -----------------------------------------------------------------


async def test_first_report_beyond_the_limit_is_late_by_the_exact_delay(
    engine: AsyncEngine, policy: Policy
) -> None:
    # Level II: first report within 15m of known_at (09:00 local) -> due 09:15; it arrives 09:15:42.
    late = report("inc-1", reported_at=KNOWN + 15 * MIN + 42 * SECOND)
    result = await store(engine, policy, late)

    assert result.late_entries == 1
    first = await deadline(engine, DeadlineKind.FIRST_REPORT, incident_id="inc-1")
    assert (first.due_at, first.state, first.met_at, first.met_by) == (
        KNOWN + 15 * MIN,
        DeadlineState.MET,
        late.reported_at,
        late.report_id,
    )
    [entry] = await entries(engine, EntryKind.LATE_REPORT)
    assert (entry.deadline_id, entry.delay_seconds, entry.responsible) == (first.id, 42, "城关镇")
    assert (entry.report_id, entry.occurred_at) == (late.report_id, late.reported_at)
    assert entry.details["deadline"] == "first_report"


async def test_missing_written_report_is_entered_once_then_its_late_arrival_meets_it(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1"))
    written = await deadline(engine, DeadlineKind.WRITTEN_REPORT, incident_id="inc-1")
    due = KNOWN + 40 * MIN  # level II: written report within 40m of known_at
    assert written.due_at == due

    assert DeadlineKind.WRITTEN_REPORT not in fired_kinds(await fire(engine, policy, due - MICRO))
    # written_report chain: rounds at +0m (township leader, duty officer), +10m (section chief), ...
    assert DeadlineKind.WRITTEN_REPORT in fired_kinds(await fire(engine, policy, due))
    assert DeadlineKind.WRITTEN_REPORT in fired_kinds(await fire(engine, policy, due + 10 * MIN))

    [missing] = await entries(engine, EntryKind.MISSING_REPORT)
    assert (missing.deadline_id, missing.occurred_at, missing.responsible) == (written.id, due, "城关镇")
    rounds = await escalations_of(engine, written.id)
    assert [(e.round, e.roles) for e in rounds] == [
        (0, ["township_leader", "duty_officer"]),
        (1, ["section_chief"]),
    ]

    # The written report comes 15 minutes late, between the second and third rounds.
    arrived = report("inc-1", ReportType.WRITTEN, reported_at=due + 15 * MIN)
    await store(engine, policy, arrived)
    met = await deadline(engine, DeadlineKind.WRITTEN_REPORT, incident_id="inc-1")
    assert (met.state, met.fire_at, met.met_at) == (DeadlineState.MET, None, arrived.reported_at)
    [late] = await entries(engine, EntryKind.LATE_REPORT)
    assert (late.deadline_id, late.delay_seconds, late.report_id) == (written.id, 15 * 60, arrived.report_id)

    # The third round (+20m) and later ones never go out.
    assert DeadlineKind.WRITTEN_REPORT not in fired_kinds(await fire(engine, policy, due + 3 * HOUR))
    assert len(await escalations_of(engine, written.id)) == 2
    assert len(await entries(engine, EntryKind.MISSING_REPORT)) == 1


# --- follow-ups (续报) ---------------------------------------------------------------------------


async def test_followup_before_its_slot_meets_it_and_arms_the_next(
    engine: AsyncEngine, policy: Policy
) -> None:
    # Level II: a follow-up every 2h from known_at for 12h -> the first slot at 11:00 local.
    await store(engine, policy, report("inc-1"))
    assert {seq: row.due_at for seq, row in (await followups(engine, "inc-1")).items()} == {
        1: KNOWN + 2 * HOUR
    }

    update = report("inc-1", ReportType.FOLLOWUP, reported_at=KNOWN + 1 * HOUR + 50 * MIN)
    result = await store(engine, policy, update)

    slots = await followups(engine, "inc-1")
    assert (slots[1].state, slots[1].met_by, slots[1].fire_at) == (DeadlineState.MET, update.report_id, None)
    assert (slots[2].due_at, slots[2].state) == (KNOWN + 4 * HOUR, DeadlineState.PENDING)
    assert result.late_entries == 0
    assert DeadlineKind.FOLLOWUP not in fired_kinds(await fire(engine, policy, KNOWN + 2 * HOUR))


async def test_missed_followup_slot_is_overdue_once_and_the_cadence_goes_on(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1"))
    slot = KNOWN + 2 * HOUR

    assert DeadlineKind.FOLLOWUP in fired_kinds(await fire(engine, policy, slot))
    # followup chain: +0m township leader and duty officer, +30m section chief; no second entry.
    assert DeadlineKind.FOLLOWUP in fired_kinds(await fire(engine, policy, slot + 30 * MIN))

    slots = await followups(engine, "inc-1")
    [overdue] = await entries(engine, EntryKind.FOLLOWUP_OVERDUE)
    assert (overdue.deadline_id, overdue.occurred_at, overdue.responsible) == (slots[1].id, slot, "城关镇")
    assert overdue.details["followup_number"] == 1
    assert [e.roles for e in await escalations_of(engine, slots[1].id)] == [
        ["township_leader", "duty_officer"],
        ["section_chief"],
    ]
    # The next slot was armed although this one was missed.
    assert (slots[2].due_at, slots[2].state) == (KNOWN + 4 * HOUR, DeadlineState.PENDING)


async def test_followups_after_twelve_hours_move_to_08_and_17_local_across_midnight(
    engine: AsyncEngine, policy: Policy
) -> None:
    # Known Monday 09:00 local: 2-hourly slots at 11, 13, 15, 17, 19 and 21:00 local (the 12th hour
    # is still inside the window). After that the daily times 08:00 and 17:00 local: Tuesday 08:00
    # (2026-03-03T00:00Z), then Tuesday 17:00 (2026-03-03T09:00Z).
    expected = [KNOWN + n * 2 * HOUR for n in range(1, 7)] + [utc(2026, 3, 3, 0), utc(2026, 3, 3, 9)]
    assert expected[5] == utc(2026, 3, 2, 13)  # 21:00 local
    await store(engine, policy, report("inc-1"))

    # Nobody reports: each missed slot fires at its time and arms the next.
    for due in expected[:-1]:
        await fire(engine, policy, due)
    slots = await followups(engine, "inc-1")
    assert [slots[seq].due_at for seq in sorted(slots)] == expected
    assert len(await entries(engine, EntryKind.FOLLOWUP_OVERDUE)) == len(expected) - 1


async def test_level_iii_followups_fall_due_at_08_local_daily(engine: AsyncEngine, policy: Policy) -> None:
    # Level III: follow-ups at 08:00 local only. Known Monday 09:00 -> Tuesday 08:00 (03-03T00:00Z).
    await store(engine, policy, report("inc-3", level=Level.III))
    assert {s: r.due_at for s, r in (await followups(engine, "inc-3")).items()} == {1: utc(2026, 3, 3, 0)}

    # A follow-up on Tuesday 07:30 local meets it; the next is Wednesday 08:00 (03-04T00:00Z).
    await store(
        engine,
        policy,
        report("inc-3", ReportType.FOLLOWUP, level=Level.III, reported_at=utc(2026, 3, 2, 23, 30)),
    )
    # Nothing on Wednesday: overdue at 08:00, and Thursday 08:00 (03-05T00:00Z) is armed.
    await fire(engine, policy, utc(2026, 3, 4, 0))

    slots = await followups(engine, "inc-3")
    assert [(slots[s].due_at, slots[s].state) for s in sorted(slots)] == [
        (utc(2026, 3, 3, 0), DeadlineState.MET),
        (utc(2026, 3, 4, 0), DeadlineState.ESCALATING),
        (utc(2026, 3, 5, 0), DeadlineState.PENDING),
    ]
    [overdue] = await entries(engine, EntryKind.FOLLOWUP_OVERDUE)
    assert (overdue.deadline_id, overdue.occurred_at) == (slots[2].id, utc(2026, 3, 4, 0))


async def test_natural_disaster_at_level_ii_reports_daily_at_08_local(
    engine: AsyncEngine, policy: Policy
) -> None:
    # [categories."自然灾害"] replaces level II's 2-hourly cadence by 08:00 daily; the rest stays II.
    await store(engine, policy, report("inc-nd", category="自然灾害"))

    assert {s: r.due_at for s, r in (await followups(engine, "inc-nd")).items()} == {1: utc(2026, 3, 3, 0)}
    written = await deadline(engine, DeadlineKind.WRITTEN_REPORT, incident_id="inc-nd")
    assert written.due_at == KNOWN + 40 * MIN
    assert DeadlineKind.FOLLOWUP not in fired_kinds(await fire(engine, policy, KNOWN + 2 * HOUR))

    await fire(engine, policy, utc(2026, 3, 3, 0))  # Tuesday 08:00 local, missed
    slots = await followups(engine, "inc-nd")
    assert slots[2].due_at == utc(2026, 3, 4, 0)  # Wednesday 08:00 local


async def test_public_health_at_level_ii_has_two_hours_for_the_written_report(
    engine: AsyncEngine, policy: Policy
) -> None:
    # [categories."公共卫生"] written_report = "2h" instead of level II's 40m; first report still 15m.
    await store(engine, policy, report("inc-ph", category="公共卫生"))
    written = await deadline(engine, DeadlineKind.WRITTEN_REPORT, incident_id="inc-ph")
    first = await deadline(engine, DeadlineKind.FIRST_REPORT, incident_id="inc-ph")
    assert (written.due_at, first.due_at) == (KNOWN + 2 * HOUR, KNOWN + 15 * MIN)

    assert DeadlineKind.WRITTEN_REPORT not in fired_kinds(await fire(engine, policy, KNOWN + 40 * MIN))
    assert DeadlineKind.WRITTEN_REPORT in fired_kinds(await fire(engine, policy, KNOWN + 2 * HOUR))
    [missing] = await entries(engine, EntryKind.MISSING_REPORT)
    assert (missing.deadline_id, missing.occurred_at) == (written.id, KNOWN + 2 * HOUR)
    assert missing.details["category"] == "公共卫生"


async def test_final_report_cancels_pending_followups(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("inc-1"))
    await store(engine, policy, report("inc-1", ReportType.FINAL, reported_at=KNOWN + HOUR))

    [slot] = (await followups(engine, "inc-1")).values()
    assert (slot.due_at, slot.state, slot.fire_at) == (KNOWN + 2 * HOUR, DeadlineState.CANCELLED, None)
    assert slot.met_by == "final report"
    assert DeadlineKind.FOLLOWUP not in fired_kinds(await fire(engine, policy, KNOWN + 2 * HOUR))
    assert len(await followups(engine, "inc-1")) == 1  # nothing further armed
    assert await entries(engine, EntryKind.FOLLOWUP_OVERDUE) == []


async def test_final_report_stops_the_escalation_of_an_overdue_followup(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1"))
    slot = KNOWN + 2 * HOUR
    await fire(engine, policy, slot)  # slot 1 missed: round 0, the next round due at +30m
    await store(engine, policy, report("inc-1", ReportType.FINAL, reported_at=slot + 10 * MIN))

    # README: a final report "ends follow-ups"; escalation "stops as soon as the deadline is met".
    assert DeadlineKind.FOLLOWUP not in fired_kinds(await fire(engine, policy, slot + 30 * MIN))
    slots = await followups(engine, "inc-1")
    assert len(await escalations_of(engine, slots[1].id)) == 1


# --- level change ------------------------------------------------------------------------------


async def test_upgrade_by_a_followup_rederives_pending_deadlines_from_the_change(
    engine: AsyncEngine, policy: Policy
) -> None:
    # Level IV, known Monday 09:00 local (01:00Z), received 01:01Z:
    #   first_report 01:30Z (met by this report), written_report known+2h = 03:00Z,
    #   ack received+30m = 01:31Z, forward_written received+2h = 03:01Z, no forward_phone,
    #   follow-up 1 at the next 08:00 local = 2026-03-03T00:00Z.
    await store(engine, policy, report("inc-4", level=Level.IV))
    before = {
        kind: await deadline(engine, kind, incident_id="inc-4")
        for kind in (DeadlineKind.WRITTEN_REPORT, DeadlineKind.ACK, DeadlineKind.FORWARD_WRITTEN)
    }
    assert before[DeadlineKind.WRITTEN_REPORT].due_at == KNOWN + 2 * HOUR
    assert before[DeadlineKind.FORWARD_WRITTEN].due_at == RECEIVED + 2 * HOUR

    # The ack deadline fires (01:31Z) before the change: it must be left as it is.
    await fire(engine, policy, RECEIVED + 30 * MIN)
    fired_ack = await deadline(engine, DeadlineKind.ACK, incident_id="inc-4")
    assert fired_ack.state == DeadlineState.ESCALATING

    # 02:00Z: a follow-up says it is level II. It meets follow-up 1 (the earliest owed), whose
    # successor (Wednesday 08:00 local, 03-04T00:00Z at level IV) is then re-derived with the rest.
    change = KNOWN + HOUR
    upgrade = report("inc-4", ReportType.FOLLOWUP, level=Level.II, reported_at=change)
    await store(engine, policy, upgrade)

    after = {kind: await deadline(engine, kind, incident_id="inc-4") for kind in before}
    forward_phone = await deadline(engine, DeadlineKind.FORWARD_PHONE, incident_id="inc-4")
    slots = await followups(engine, "inc-4")
    # Level II limits, counted from the change:
    assert after[DeadlineKind.WRITTEN_REPORT].due_at == change + 40 * MIN
    assert after[DeadlineKind.FORWARD_WRITTEN].due_at == change + HOUR
    assert (forward_phone.due_at, forward_phone.state) == (change + 30 * MIN, DeadlineState.PENDING)
    assert (slots[1].state, slots[1].met_by) == (DeadlineState.MET, upgrade.report_id)
    assert (slots[2].due_at, slots[2].state) == (change + 2 * HOUR, DeadlineState.PENDING)
    for kind in (DeadlineKind.WRITTEN_REPORT, DeadlineKind.FORWARD_WRITTEN):
        assert (after[kind].fire_at, after[kind].state) == (after[kind].due_at, DeadlineState.PENDING)
    # The fired ack deadline is untouched.
    assert after[DeadlineKind.ACK]._mapping == fired_ack._mapping

    async with engine.connect() as conn:
        incident = (await conn.execute(select(incidents).where(incidents.c.id == "inc-4"))).one()
        [event] = (
            await conn.execute(
                select(incident_events).where(incident_events.c.kind == EventKind.LEVEL_CHANGED.value)
            )
        ).all()
    assert incident.level == "II"
    assert (event.incident_id, event.at, event.actor) == ("inc-4", change, f"report {upgrade.report_id}")
    assert (event.details["from"], event.details["to"]) == ("IV", "II")

    def iso(at: datetime | None) -> str | None:
        return at.isoformat() if at else None

    assert sorted((c["kind"], c["from"], c["to"]) for c in event.details["deadlines"]) == sorted(
        [
            ("written_report", iso(KNOWN + 2 * HOUR), iso(change + 40 * MIN)),
            ("forward_written", iso(RECEIVED + 2 * HOUR), iso(change + HOUR)),
            ("followup", iso(utc(2026, 3, 4, 0)), iso(change + 2 * HOUR)),
            ("forward_phone", None, iso(change + 30 * MIN)),
        ]
    )

    # The new cadence counts from the change: slot 2 missed at change+2h, slot 3 at change+4h.
    await fire(engine, policy, change + 2 * HOUR)
    assert (await followups(engine, "inc-4"))[3].due_at == change + 4 * HOUR
    assert len(await entries(engine, EntryKind.UNACKNOWLEDGED)) == 1


# --- corrections (误报) --------------------------------------------------------------------------


async def test_correction_of_deaths_and_place_is_one_erroneous_report_entry(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1", place="城关镇工业园A区", deaths=0, injured=2))
    fix = report(
        "inc-1",
        ReportType.CORRECTION,
        reported_at=KNOWN + 30 * MIN,
        place="城关镇东街12号",
        deaths=1,
        injured=2,
    )
    await store(engine, policy, fix)

    [entry] = await entries(engine, EntryKind.ERRONEOUS_REPORT)
    assert (entry.report_id, entry.incident_id, entry.responsible) == (fix.report_id, "inc-1", "城关镇")
    assert entry.occurred_at == fix.reported_at
    assert entry.details == {
        "fields": ["place", "deaths"],
        "before": {"place": "城关镇工业园A区", "deaths": 0},
        "after": {"place": "城关镇东街12号", "deaths": 1},
    }
    async with engine.connect() as conn:
        incident = (await conn.execute(select(incidents))).one()
    assert (incident.place, incident.deaths, incident.injured) == ("城关镇东街12号", 1, 2)


async def test_correction_that_changes_nothing_writes_no_entry(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("inc-1", place="城关镇工业园A区", deaths=0))
    same = report(
        "inc-1", ReportType.CORRECTION, reported_at=KNOWN + 30 * MIN, place="城关镇工业园A区", deaths=0
    )
    await store(engine, policy, same)

    assert await entries(engine, EntryKind.ERRONEOUS_REPORT) == []
