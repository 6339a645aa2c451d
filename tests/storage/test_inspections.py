"""Inspections of the information network (信息网络建设检查, 六有) against a real database: every one
kept, the latest first, the latest per township on or before a day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import inspections
from alerting.county.inspections import Conditions, Inspection
from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.policy.model import Policy

A, B = "城关镇", "梅林镇"
NOW = datetime(2026, 6, 30, 2, tzinfo=UTC)  # 10:00 local, 2026-06-30
ALL = Conditions(True, True, True, True, True, True)
NO_PUBLICATION = Conditions(True, True, True, False, True, True)
INFO = "信息科"


async def record(engine: AsyncEngine, policy: Policy, inspection: Inspection) -> dict[str, object]:
    async with engine.begin() as conn:
        return await inspections.record(conn, inspection, policy, INFO, NOW)


async def test_two_inspections_of_a_township_are_kept_the_latest_first(
    engine: AsyncEngine, policy: Policy
) -> None:
    march = await record(
        engine, policy, Inspection(A, date(2026, 3, 10), ("李四", "赵六"), NO_PUBLICATION, "缺刊物")
    )
    june = await record(engine, policy, Inspection(A, date(2026, 6, 5), ("李四",), ALL, "已整改"))
    other = await record(engine, policy, Inspection(B, date(2026, 4, 1), ("赵六",), ALL))
    assert (march["met"], march["of"], march["unmet"], march["unmet_zh"]) == (
        5,
        6,
        ["publications"],
        ["有相关刊物"],
    )
    assert march["findings"] == {
        "office": True,
        "funding": True,
        "equipment": True,
        "publications": False,
        "leader": True,
        "staff": True,
    }
    assert (march["inspectors"], march["recorded_by"], march["recorded_at"]) == (["李四", "赵六"], INFO, NOW)
    async with engine.connect() as conn:
        a = await inspections.history(conn, A)
        everyone = await inspections.history(conn)
        latest = await inspections.latest(conn)
        in_may = await inspections.latest(conn, date(2026, 5, 31))
        before_any = await inspections.latest(conn, date(2026, 3, 9))
        with pytest.raises(NotFound):
            await inspections.get(conn, 999)
    assert [i["id"] for i in a] == [june["id"], march["id"]]
    assert [i["id"] for i in everyone] == [june["id"], other["id"], march["id"]]
    assert [(i["township"], i["inspected_on"], i["met"]) for i in latest] == [
        (A, date(2026, 6, 5), 6),
        (B, date(2026, 4, 1), 6),
    ]
    assert [(i["township"], i["inspected_on"], i["unmet"]) for i in in_may] == [
        (A, date(2026, 3, 10), ["publications"]),
        (B, date(2026, 4, 1), []),
    ]
    assert before_any == []


async def test_the_same_day_twice_the_later_record_is_the_latest(engine: AsyncEngine, policy: Policy) -> None:
    await record(engine, policy, Inspection(A, date(2026, 6, 5), ("李四",), NO_PUBLICATION))
    second = await record(engine, policy, Inspection(A, date(2026, 6, 5), ("李四",), ALL, "复查"))
    async with engine.connect() as conn:
        [latest] = await inspections.latest(conn)
    assert (latest["id"], latest["note"]) == (second["id"], "复查")


async def test_unknown_townships_and_future_dates_are_refused(engine: AsyncEngine, policy: Policy) -> None:
    with pytest.raises(UnknownTownship, match="可选：城关镇、梅林镇、青山乡"):
        await record(engine, policy, Inspection("不存在镇", date(2026, 6, 1), ("李四",), ALL))
    with pytest.raises(ConflictError, match="the inspection date is in the future"):
        await record(engine, policy, Inspection(A, date(2026, 7, 1), ("李四",), ALL))
    async with engine.connect() as conn:
        assert await inspections.history(conn) == []
