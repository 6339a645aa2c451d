"""The officers' register against a real database: terms registered with history, never overwritten;
inverted and overlapping terms refused."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import officers
from alerting.county.officers import Term
from alerting.domain import DeadlineKind, EntryKind
from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines
from tests.storage.test_rule_reports import HOUR, MICRO, entries, escalations_of, fire, utc

NOW = utc(2026, 3, 2, 2)
WANG = Term("城关镇", "王五", "13800000201", "full_time", date(2026, 1, 1))


async def test_a_term_is_registered_ended_and_followed_with_its_history(
    engine: AsyncEngine, policy: Policy
) -> None:
    async with engine.begin() as conn:
        first = await officers.register(conn, WANG, policy, "信息科李四", "新任专职信息员", NOW)
        ended = await officers.end_term(
            conn, first["id"], date(2026, 3, 31), policy, "信息科李四", "调离", NOW + HOUR
        )
        nxt = Term("城关镇", "赵六", "13800000202", "part_time", date(2026, 4, 1))
        second = await officers.register(conn, nxt, policy, "信息科李四", "接任", NOW + 2 * HOUR)
        with pytest.raises(ConflictError, match="already ends on 2026-03-31"):
            await officers.end_term(conn, first["id"], date(2026, 4, 30), policy, "信息科", "", NOW)
    assert (ended["starts_on"], ended["ends_on"]) == (date(2026, 1, 1), date(2026, 3, 31))
    assert [(c["kind"], c["effective_on"], c["by"], c["note"]) for c in ended["changes"]] == [
        ("registered", date(2026, 1, 1), "信息科李四", "新任专职信息员"),
        ("ended", date(2026, 3, 31), "信息科李四", "调离"),
    ]
    async with engine.connect() as conn:
        march = await officers.register_of(conn, "城关镇", active_on=date(2026, 3, 31))
        april = await officers.register_of(conn, "城关镇", active_on=date(2026, 4, 1))
        everyone = await officers.register_of(conn, "城关镇")
    assert [o["name"] for o in march] == ["王五"]
    assert [o["name"] for o in april] == ["赵六"] and second["employment"] == "part_time"
    assert [o["name"] for o in everyone] == ["王五", "赵六"]  # history kept


async def test_inverted_overlapping_and_unknown_are_refused(engine: AsyncEngine, policy: Policy) -> None:
    async with engine.begin() as conn:
        await officers.register(conn, WANG, policy, "信息科", "", NOW)
        with pytest.raises(ConflictError, match="overlaps term"):
            await officers.register(
                conn,
                Term("城关镇", "王五", "13800000201", "full_time", date(2026, 2, 1)),
                policy,
                "信息科",
                "",
                NOW,
            )
        with pytest.raises(ConflictError, match="the term ends before it starts"):
            await officers.register(
                conn,
                Term("梅林镇", "钱七", "13800000203", "full_time", date(2026, 3, 1), date(2026, 2, 1)),
                policy,
                "信息科",
                "",
                NOW,
            )
        with pytest.raises(UnknownTownship, match="不存在镇"):
            await officers.register(
                conn,
                Term("不存在镇", "孙八", "1380000", "part_time", date(2026, 1, 1)),
                policy,
                "信息科",
                "",
                NOW,
            )
        with pytest.raises(NotFound):
            await officers.end_term(conn, 999, date(2026, 1, 2), policy, "信息科", "", NOW)
        # The same person in another township, or again after the term ended, is a new term.
        await officers.register(
            conn,
            Term("梅林镇", "王五", "13800000201", "part_time", date(2026, 1, 1)),
            policy,
            "信息科",
            "",
            NOW,
        )


# --- vacancies (断档缺人): 5 working days of the example calendar --------------------------------
# 王五's term ends Wed 2026-09-30. The National Day holiday runs Oct 1-7; Sat Oct 10 is a working day.
# Working days without an officer: Oct 8, 9, 10, 12, 13 -> due at the end of Tue Oct 13 local.
LAST_DAY = date(2026, 9, 30)
VACANCY_DUE = utc(2026, 10, 13, 16)
ENDED_AT = utc(2026, 9, 15, 2)


async def wang_leaves(engine: AsyncEngine, policy: Policy) -> int:
    async with engine.begin() as conn:
        term = await officers.register(conn, WANG, policy, "信息科", "", NOW)
        await officers.end_term(conn, term["id"], LAST_DAY, policy, "信息科", "调离", ENDED_AT)
    return int(term["id"])


async def vacancy_rows(engine: AsyncEngine) -> list[tuple[str, str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(deadlines.c.period, deadlines.c.state, deadlines.c.due_at).where(
                deadlines.c.kind == DeadlineKind.OFFICER_VACANCY.value
            )
        )
        return [(r.period, r.state, r.due_at) for r in rows]


async def test_a_vacancy_across_the_national_day_holiday_writes_one_entry_after_five_working_days(
    engine: AsyncEngine, policy: Policy
) -> None:
    await wang_leaves(engine, policy)
    assert await vacancy_rows(engine) == [("vacancy:2026-10-01", "pending", VACANCY_DUE)]
    await fire(engine, policy, VACANCY_DUE - MICRO)
    assert await entries(engine) == []
    await fire(engine, policy, VACANCY_DUE)
    found = await entries(engine)
    assert [(e.kind, e.township, e.responsible, e.occurred_at, e.details) for e in found] == [
        (
            EntryKind.OFFICER_VACANCY,
            "城关镇",
            "城关镇",
            VACANCY_DUE,
            {
                "deadline": "officer_vacancy",
                "due_at": VACANCY_DUE.isoformat(),
                "period": "vacancy:2026-10-01",
                "context": {"title": "信息员断档", "vacant_since": "2026-10-01"},
            },
        )
    ]
    [row] = await duty_rows(engine)
    [round0] = await escalations_of(engine, row)
    assert round0.roles == ["township_leader", "section_chief"]


async def test_a_successor_in_time_or_a_term_covering_the_gap_writes_nothing(
    engine: AsyncEngine, policy: Policy
) -> None:
    await wang_leaves(engine, policy)
    async with engine.begin() as conn:  # 赵六 starts Mon Oct 12, the 4th working day of the gap
        await officers.register(
            conn,
            Term("城关镇", "赵六", "13800000202", "part_time", date(2026, 10, 12)),
            policy,
            "信息科",
            "",
            ENDED_AT,
        )
    assert await vacancy_rows(engine) == [("vacancy:2026-10-01", "met", VACANCY_DUE)]
    await fire(engine, policy, VACANCY_DUE + HOUR)
    assert await entries(engine) == []


async def test_a_term_registered_late_that_covers_the_gap_cancels_it(
    engine: AsyncEngine, policy: Policy
) -> None:
    await wang_leaves(engine, policy)
    async with engine.begin() as conn:
        await officers.register(
            conn,
            Term("城关镇", "赵六", "13800000202", "full_time", date(2026, 10, 1)),
            policy,
            "信息科",
            "",
            ENDED_AT,
        )
    assert await vacancy_rows(engine) == [("vacancy:2026-10-01", "cancelled", VACANCY_DUE)]
    await fire(engine, policy, VACANCY_DUE + HOUR)
    assert await entries(engine) == []


async def test_a_township_whose_officer_never_leaves_is_never_vacant(
    engine: AsyncEngine, policy: Policy
) -> None:
    async with engine.begin() as conn:
        await officers.register(conn, WANG, policy, "信息科", "", NOW)
    await fire(engine, policy, VACANCY_DUE + HOUR)
    assert (await vacancy_rows(engine), await entries(engine)) == ([], [])


async def duty_rows(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(deadlines.c.id).where(deadlines.c.kind == DeadlineKind.OFFICER_VACANCY.value)
        )
        return [r.id for r in rows]
