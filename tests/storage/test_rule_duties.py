"""Township duties against a real database, on a fake clock: silence (长期未报送) counted in working days
of the example calendar, the periodic 重点项目进展 report, and the quarterly balance (喜忧兼报).

Expectations come from deploy/policy.example.toml; times are UTC, local dates are Asia/Shanghai
(UTC+8), so local midnight is 16:00Z the day before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.audit import bulletins
from alerting.audit.bulletins import year_of
from alerting.domain import DeadlineKind, DeadlineState, EntryKind, Level, Report
from alerting.errors import InvalidReport
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines, escalations, items, reports
from escalation.duties import ensure_duties
from tests.storage.test_rule_reports import (
    HOUR,
    MICRO,
    deadline,
    entries,
    escalations_of,
    fire,
    report,
    routine_item,
    store,
    utc,
    verify_chain,
)

TOWNSHIPS = ("城关镇", "梅林镇", "青山乡")
MONDAY = utc(2026, 3, 2, 1)  # Monday 2026-03-02 09:00 local: the service starts watching


@pytest.fixture(autouse=True)
async def _chain_verifies(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    await verify_chain(engine)


async def ensure(engine: AsyncEngine, policy: Policy, now: datetime) -> None:
    async with engine.begin() as conn:
        await ensure_duties(conn, policy, now)


async def duty_rows(engine: AsyncEngine, kind: DeadlineKind) -> dict[str, list[Any]]:
    """A duty's rows per township, oldest first."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(deadlines).where(deadlines.c.kind == kind.value).order_by(deadlines.c.id)
            )
        ).all()
    found: dict[str, list[Any]] = {}
    for row in rows:
        found.setdefault(row.township, []).append(row)
    return found


async def duty_escalations(engine: AsyncEngine, kind: DeadlineKind) -> list[tuple[str, list[str]]]:
    """(township, roles) of every escalation sent for a duty of `kind`, by township."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(escalations.c.township, escalations.c.roles)
            .join(deadlines, deadlines.c.id == escalations.c.deadline_id)
            .where(deadlines.c.kind == kind.value)
        )
        return sorted((r.township, r.roles) for r in rows)  # sorted here: collations differ


def local_report(township: str, at: datetime, category: str = "安全生产") -> Report:
    """A report from `township` received at `at`, about an incident of its own (level IV)."""
    return report(
        f"{township}-{at:%m%d%H%M}",
        township=township,
        level=Level.IV,
        known_at=at,
        reported_at=at,
        category=category,
    )


# --- silence (长期未报送): remind after 10 working days, flag after 15 ----------------------------

# From Monday 2026-03-02 (the day itself never counts), March 2026 has no holidays in the example
# calendar, only weekends:
#   working days 1..10: Mar 3, 4, 5, 6, 9, 10, 11, 12, 13, 16 -> reminder at the end of Mar 16,
#                        i.e. Tue Mar 17 00:00 local = 2026-03-16T16:00Z
#   working days 11..15: Mar 17, 18, 19, 20, 23             -> silent_unit at Tue Mar 24 00:00 local
#                                                              = 2026-03-23T16:00Z
REMIND_AT = utc(2026, 3, 16, 16)
FLAG_AT = utc(2026, 3, 23, 16)


async def test_ensure_duties_arms_silence_for_every_township_in_working_days(
    engine: AsyncEngine, policy: Policy
) -> None:
    await ensure(engine, policy, MONDAY)

    for kind, due in ((DeadlineKind.SILENCE_REMINDER, REMIND_AT), (DeadlineKind.SILENCE, FLAG_AT)):
        rows = await duty_rows(engine, kind)
        assert sorted(rows) == sorted(TOWNSHIPS)
        for township, [row] in rows.items():
            assert (row.due_at, row.fire_at, row.state) == (due, due, DeadlineState.PENDING), township
            assert row.context == {"since": MONDAY.isoformat()}

    await ensure(engine, policy, MONDAY)  # idempotent
    assert all(len(r) == 1 for r in (await duty_rows(engine, DeadlineKind.SILENCE)).values())


async def test_silence_reminds_the_leader_after_10_working_days_and_flags_after_15(
    engine: AsyncEngine, policy: Policy
) -> None:
    await ensure(engine, policy, MONDAY)

    await fire(engine, policy, REMIND_AT - MICRO)
    assert await duty_escalations(engine, DeadlineKind.SILENCE_REMINDER) == []
    await fire(engine, policy, REMIND_AT)
    # A reminder to each township's leader, and no accountability entry.
    assert await duty_escalations(engine, DeadlineKind.SILENCE_REMINDER) == [
        (t, ["township_officer", "township_leader"]) for t in sorted(TOWNSHIPS)
    ]
    reminders = await duty_rows(engine, DeadlineKind.SILENCE_REMINDER)
    for [row] in reminders.values():
        assert await entries(engine, deadline_id=row.id) == []

    await fire(engine, policy, FLAG_AT - MICRO)
    assert await entries(engine, EntryKind.SILENT_UNIT) == []
    await fire(engine, policy, FLAG_AT)
    silent = await entries(engine, EntryKind.SILENT_UNIT)
    assert sorted((e.township, e.responsible, e.occurred_at) for e in silent) == [
        (t, t, FLAG_AT) for t in sorted(TOWNSHIPS)
    ]
    assert all(e.details["context"] == {"since": MONDAY.isoformat()} for e in silent)
    assert await duty_escalations(engine, DeadlineKind.SILENCE) == [
        (t, ["township_leader", "section_chief"]) for t in sorted(TOWNSHIPS)
    ]


async def test_a_report_in_between_moves_both_silence_deadlines(engine: AsyncEngine, policy: Policy) -> None:
    await ensure(engine, policy, MONDAY)
    # 梅林镇 reports on Wednesday 2026-03-11 10:00 local. Counting again from Mar 11:
    #   1..10: Mar 12, 13, 16, 17, 18, 19, 20, 23, 24, 25 -> end of Mar 25 = 2026-03-25T16:00Z
    #   11..15: Mar 26, 27, 30, 31, Apr 1                 -> end of Apr 1  = 2026-04-01T16:00Z
    sent = local_report("梅林镇", utc(2026, 3, 11, 2))
    await store(engine, policy, sent)
    moved_remind, moved_flag = utc(2026, 3, 25, 16), utc(2026, 4, 1, 16)

    reminder = await deadline(engine, DeadlineKind.SILENCE_REMINDER, township="梅林镇")
    flag = await deadline(engine, DeadlineKind.SILENCE, township="梅林镇")
    assert (reminder.due_at, reminder.fire_at) == (moved_remind, moved_remind)
    assert (flag.due_at, flag.fire_at) == (moved_flag, moved_flag)
    assert flag.context == {"since": sent.reported_at.isoformat()}

    # At the old dates only the two townships that stayed silent are told and flagged.
    await fire(engine, policy, REMIND_AT)
    await fire(engine, policy, FLAG_AT)
    assert [t for t, _ in await duty_escalations(engine, DeadlineKind.SILENCE_REMINDER)] == [
        "城关镇",
        "青山乡",
    ]
    assert sorted(e.township for e in await entries(engine, EntryKind.SILENT_UNIT)) == ["城关镇", "青山乡"]

    # 梅林镇 in its turn, exactly at the moved dates.
    await fire(engine, policy, moved_remind - MICRO)
    assert len(await escalations_of(engine, reminder.id)) == 0
    await fire(engine, policy, moved_remind)
    assert len(await escalations_of(engine, reminder.id)) == 1
    await fire(engine, policy, moved_flag - MICRO)
    assert await entries(engine, EntryKind.SILENT_UNIT, township="梅林镇") == []
    await fire(engine, policy, moved_flag)
    [entry] = await entries(engine, EntryKind.SILENT_UNIT, township="梅林镇")
    assert (entry.deadline_id, entry.occurred_at) == (flag.id, moved_flag)


async def test_spring_festival_holidays_are_not_silence(engine: AsyncEngine, policy: Policy) -> None:
    # 青山乡's last report: Thursday 2026-02-12 10:00 local. Example calendar: holidays Feb 15..23,
    # adjusted working days Sat Feb 14 and Sat Feb 28. Working days after Feb 12:
    #    1 Fri Feb 13,  2 Sat Feb 14 (调休),  [Feb 15..23 holiday],  3 Tue Feb 24,  4 Wed Feb 25,
    #    5 Thu Feb 26,  6 Fri Feb 27,  7 Sat Feb 28 (调休),  8 Mon Mar 2,  9 Tue Mar 3, 10 Wed Mar 4
    #   -> reminder at the end of Mar 4 = 2026-03-04T16:00Z
    #   11 Thu Mar 5, 12 Fri Mar 6, 13 Mon Mar 9, 14 Tue Mar 10, 15 Wed Mar 11
    #   -> silent_unit at the end of Mar 11 = 2026-03-11T16:00Z
    # (With weekends only, the 15th working day would have been Thu Mar 5.)
    await store(engine, policy, local_report("青山乡", utc(2026, 2, 12, 2)))
    remind_at, flag_at = utc(2026, 3, 4, 16), utc(2026, 3, 11, 16)
    assert (await deadline(engine, DeadlineKind.SILENCE_REMINDER, township="青山乡")).due_at == remind_at
    assert (await deadline(engine, DeadlineKind.SILENCE, township="青山乡")).due_at == flag_at

    # Every local midnight through the holiday and the weeks after it: nothing about silence.
    for day in range(13, 29):
        await fire(engine, policy, utc(2026, 2, day, 16))
    for day in range(1, 4):
        await fire(engine, policy, utc(2026, 3, day, 16))
    await fire(engine, policy, remind_at - MICRO)
    assert await duty_escalations(engine, DeadlineKind.SILENCE_REMINDER) == []

    await fire(engine, policy, remind_at)
    assert await duty_escalations(engine, DeadlineKind.SILENCE_REMINDER) == [
        ("青山乡", ["township_officer", "township_leader"])
    ]
    await fire(engine, policy, flag_at - MICRO)
    assert await entries(engine, EntryKind.SILENT_UNIT) == []
    await fire(engine, policy, flag_at)
    [entry] = await entries(engine, EntryKind.SILENT_UNIT)
    assert (entry.township, entry.occurred_at) == ("青山乡", flag_at)


# --- periodic: 重点项目进展 by the 15th of each month -------------------------------------------

# "By the 15th": the end of Mar 15 local = Mon Mar 16 00:00 local = 2026-03-15T16:00Z.
KEY_PROJECT_DUE = utc(2026, 3, 15, 16)
KEY_PROJECT_PERIOD = "key_project_progress:2026-03"


async def key_project_row(engine: AsyncEngine, township: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(deadlines).where(
                    deadlines.c.township == township, deadlines.c.period == KEY_PROJECT_PERIOD
                )
            )
        ).one()


async def test_key_project_report_by_the_15th_meets_the_duty_and_a_miss_is_overdue_on_the_16th(
    engine: AsyncEngine, policy: Policy
) -> None:
    await ensure(engine, policy, MONDAY)
    # 城关镇 sends its 重点项目 item on Tuesday Mar 10, 10:00 local (a routine item, not an urgent report).
    sent = routine_item("城关镇", utc(2026, 3, 10, 2))
    await store(engine, policy, sent)

    met = await key_project_row(engine, "城关镇")
    assert (met.due_at, met.state, met.met_by) == (KEY_PROJECT_DUE, DeadlineState.MET, sent.report_id)
    assert await entries(engine, EntryKind.LATE_REPORT) == []

    await fire(engine, policy, KEY_PROJECT_DUE - MICRO)
    assert await entries(engine, EntryKind.PERIODIC_OVERDUE) == []
    await fire(engine, policy, KEY_PROJECT_DUE)
    overdue = await entries(engine, EntryKind.PERIODIC_OVERDUE)
    assert sorted((e.township, e.responsible, e.occurred_at, e.details["period"]) for e in overdue) == [
        (t, t, KEY_PROJECT_DUE, KEY_PROJECT_PERIOD) for t in ("梅林镇", "青山乡")
    ]
    assert all(e.details["context"]["title"] == "重点项目进展" for e in overdue)
    for township in ("梅林镇", "青山乡"):
        row = await key_project_row(engine, township)
        [round0] = await escalations_of(engine, row.id)
        assert round0.roles == ["township_leader", "section_chief"]


async def test_key_project_report_after_the_miss_writes_late_report(
    engine: AsyncEngine, policy: Policy
) -> None:
    await ensure(engine, policy, MONDAY)
    await fire(engine, policy, KEY_PROJECT_DUE)  # periodic_overdue for every township
    # 梅林镇 sends it on Friday Mar 20, 10:00 local = 2026-03-20T02:00Z:
    # 4 days 10 hours after the due time = 4 * 86400 + 10 * 3600 = 381600 s late.
    late = routine_item("梅林镇", utc(2026, 3, 20, 2))
    await store(engine, policy, late)

    row = await key_project_row(engine, "梅林镇")
    assert (row.state, row.met_by) == (DeadlineState.MET, late.submission_id)
    assert [
        (e.deadline_id, e.delay_seconds, e.report_id, e.incident_id, e.details)
        for e in await entries(engine, EntryKind.LATE_REPORT, township="梅林镇")
    ] == [
        (
            row.id,
            381600,
            None,
            None,
            {
                "deadline": "periodic",
                "due_at": KEY_PROJECT_DUE.isoformat(),
                "arrived_at": late.submitted_at.isoformat(),
                "item_id": late.item_id,
                "version": 1,
                "category": "重点项目",
            },
        )
    ]


async def test_an_urgent_report_in_a_routine_category_is_refused_and_meets_nothing(
    engine: AsyncEngine, policy: Policy
) -> None:
    await ensure(engine, policy, MONDAY)
    with pytest.raises(InvalidReport, match="重点项目 is a routine category"):
        await store(engine, policy, local_report("城关镇", utc(2026, 3, 10, 2), category="重点项目"))
    assert (await key_project_row(engine, "城关镇")).state == DeadlineState.PENDING


# --- balance (喜忧兼报) at the end of Q1: 2026-04-01 00:00 local = 2026-03-31T16:00Z -----------------

QUARTER_END = utc(2026, 3, 31, 16)
QUARTER_START = utc(2025, 12, 31, 16)  # 2026-01-01 00:00 local


async def test_quarter_with_only_good_news_is_flagged_and_others_are_cleared(
    engine: AsyncEngine, policy: Policy
) -> None:
    # 城关镇: a problem report at 23:59 local on Dec 31 (still Q4), then only good news in Q1: an
    # urgent report marked not a problem and two 经验做法 items.
    await store(engine, policy, local_report("城关镇", utc(2025, 12, 31, 15, 59)))
    await ensure(engine, policy, MONDAY)
    await store(engine, policy, replace(local_report("城关镇", utc(2026, 1, 4, 2)), is_problem=False))
    for at in (utc(2026, 1, 5, 2), utc(2026, 3, 31, 15, 59)):  # the last at 23:59 local on Mar 31
        await store(engine, policy, routine_item("城关镇", at, category="经验做法"))
    # 梅林镇: good news and a problem item (问题建议). 青山乡: nothing at all.
    await store(engine, policy, routine_item("梅林镇", utc(2026, 2, 2, 2), category="经验做法"))
    await store(engine, policy, routine_item("梅林镇", utc(2026, 3, 3, 2), category="问题建议"))

    balance = await duty_rows(engine, DeadlineKind.QUARTER_BALANCE)
    assert {t: [(r.period, r.due_at) for r in rows] for t, rows in balance.items()} == {
        t: [("2026-Q1", QUARTER_END)] for t in TOWNSHIPS
    }

    await fire(engine, policy, QUARTER_END - MICRO)
    assert await entries(engine, EntryKind.GOOD_NEWS_ONLY) == []
    await fire(engine, policy, QUARTER_END)

    [flagged] = await entries(engine, EntryKind.GOOD_NEWS_ONLY)
    # Dated at Q1's last instant, inside the quarter it judges (it fell due at Q2's first).
    assert (flagged.township, flagged.responsible, flagged.occurred_at) == (
        "城关镇",
        "城关镇",
        QUARTER_END - MICRO,
    )
    assert [flagged.details[k] for k in ("reports", "problem_reports", "items", "problem_items")] == [
        1,
        0,
        2,
        0,
    ]
    assert (flagged.details["period"], flagged.details["judged_period"]) == ("2026-Q1", "2026-Q1")
    assert flagged.details["due_at"] == QUARTER_END.isoformat()
    assert flagged.details["context"] == {"quarter_start": QUARTER_START.isoformat()}
    assert await duty_escalations(engine, DeadlineKind.QUARTER_BALANCE) == [("城关镇", ["section_chief"])]

    rows = await duty_rows(engine, DeadlineKind.QUARTER_BALANCE)
    states = {t: r[0].state for t, r in rows.items()}
    assert states == {
        "城关镇": DeadlineState.EXHAUSTED,
        "梅林镇": DeadlineState.CLEARED,
        "青山乡": DeadlineState.CLEARED,
    }
    for township in ("梅林镇", "青山乡"):
        [row] = rows[township]
        assert row.fire_at is None
        assert await entries(engine, deadline_id=row.id) == []


async def test_good_news_categories_are_stored_as_not_a_problem(engine: AsyncEngine, policy: Policy) -> None:
    # [categories."经验做法"] problem = false; a category that says nothing is a problem.
    await store(engine, policy, routine_item("城关镇", MONDAY, category="经验做法"))
    await store(engine, policy, routine_item("青山乡", MONDAY, category="问题建议"))
    await store(engine, policy, local_report("梅林镇", MONDAY))
    async with engine.connect() as conn:
        stored = {r.township: r.is_problem for r in await conn.execute(select(reports))}
        stored |= {r.township: r.is_problem for r in await conn.execute(select(items))}
    assert stored == {"城关镇": False, "梅林镇": True, "青山乡": True}


# --- findings belong to the period they judge --------------------------------------------------

DECEMBER_START = utc(2025, 11, 30, 16)  # 2025-12-01 00:00 local
NEW_YEAR = utc(2025, 12, 31, 16)  # 2026-01-01 00:00 local: December's 社情民意 duty falls due


async def test_december_s_missed_duty_is_dated_in_december_and_counts_in_that_year(
    engine: AsyncEngine, policy: Policy
) -> None:
    await ensure(engine, policy, DECEMBER_START + HOUR)
    await fire(engine, policy, NEW_YEAR)  # no township sent anything in December

    # The whole log. Key-project reports were due by the 15th and silence is counted in working
    # days: both fall due inside December and are dated then. The 社情民意 duty fell due at the first
    # instant of January: dated at December's last instant, and the entry says which period it judges.
    key_project, flag = utc(2025, 12, 15, 16), utc(2025, 12, 22, 16)
    assert sorted(
        (e.kind, e.township, e.occurred_at, e.details.get("judged_period")) for e in await entries(engine)
    ) == sorted(
        [
            *(("periodic_overdue", town, key_project, None) for town in TOWNSHIPS),
            *(("silent_unit", town, flag, None) for town in TOWNSHIPS),
            *(("periodic_overdue", town, NEW_YEAR - MICRO, "2025-12") for town in TOWNSHIPS),
        ]
    )
    async with engine.connect() as conn:
        year_2025 = await bulletins.compute(
            conn, policy, "year", year_of(NEW_YEAR - HOUR, policy.tz), NEW_YEAR
        )
        year_2026 = await bulletins.compute(conn, policy, "year", year_of(NEW_YEAR, policy.tz), NEW_YEAR)
    assert {t["township"]: t["candidates"] for t in year_2025["townships"]} == {
        town: {"periodic_overdue": 2, "silent_unit": 1} for town in TOWNSHIPS
    }
    assert {t["township"]: t["candidates"] for t in year_2026["townships"]} == {
        town: {} for town in TOWNSHIPS
    }
