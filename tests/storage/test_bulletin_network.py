"""Bulletins show each township's information network against a real database: the latest inspection
(六有) on or before the period's last day, and the officers' vacancy days counted by hand; a bulletin
published before these were counted still renders.

2026-Q1 runs from 2026-01-01 to 2026-03-31 (local days). Terms, through the officers' register:
- 城关镇: 王五 from 2025-10-01 to Tue 2026-02-10; 赵六 from Fri 2026-02-20. Vacant Feb 11-19: 9 days.
- 梅林镇: 钱七 from 2026-03-01 only; the days before a township's first term are no vacancy: 0.
- 青山乡: 孙八 from 2026-01-01 to 2026-03-25, nobody after. Vacant Mar 26-31: 6 days.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import openpyxl
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.audit import bulletins
from alerting.audit.render import bulletin_html, bulletin_xlsx
from alerting.cli.bulletins import _table
from alerting.county import inspections, officers
from alerting.county.inspections import Conditions, Inspection
from alerting.county.officers import Term
from alerting.policy.model import Policy
from tests.storage.test_rule_reports import utc

A, B, C = "城关镇", "梅林镇", "青山乡"
AFTER_Q1 = utc(2026, 3, 31, 16, 5)  # 2026-04-01 00:05 local
INFO = "信息科"
ALL = Conditions(True, True, True, True, True, True)


async def register(engine: AsyncEngine, policy: Policy) -> None:
    registered = utc(2025, 9, 30, 2)
    async with engine.begin() as conn:
        wang = await officers.register(
            conn, Term(A, "王五", "13800000201", "full_time", date(2025, 10, 1)), policy, INFO, "", registered
        )
        await officers.end_term(conn, wang["id"], date(2026, 2, 10), policy, INFO, "调离", utc(2026, 2, 1, 2))
        await officers.register(
            conn, Term(A, "赵六", "13800000202", "part_time", date(2026, 2, 20)), policy, INFO, "", registered
        )
        await officers.register(
            conn, Term(B, "钱七", "13800000203", "full_time", date(2026, 3, 1)), policy, INFO, "", registered
        )
        await officers.register(
            conn,
            Term(C, "孙八", "13800000204", "full_time", date(2026, 1, 1), date(2026, 3, 25)),
            policy,
            INFO,
            "",
            registered,
        )


async def inspect(engine: AsyncEngine, policy: Policy) -> None:
    found = [
        Inspection(A, date(2026, 1, 10), ("李四", "赵六"), Conditions(True, True, True, False, True, False)),
        Inspection(A, date(2026, 3, 20), ("李四",), Conditions(True, True, True, False, True, True), "复查"),
        Inspection(B, date(2026, 3, 31), ("李四",), ALL),  # the period's last day counts
        Inspection(B, date(2026, 4, 1), ("李四",), Conditions(False, True, True, True, True, True)),  # Q2
    ]
    async with engine.begin() as conn:
        for inspection in found:
            await inspections.record(conn, inspection, policy, INFO, AFTER_Q1)


async def compute(engine: AsyncEngine, policy: Policy, key: str, now: datetime) -> dict[str, Any]:
    kind, period = bulletins.parse_period(key, policy.tz)
    async with engine.connect() as conn:
        return await bulletins.compute(conn, policy, kind, period, now)


def network(content: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {r["township"]: (r["network_inspection"], r["officer_vacancy_days"]) for r in content["townships"]}


async def test_vacancy_days_and_the_latest_inspection_by_hand(engine: AsyncEngine, policy: Policy) -> None:
    await register(engine, policy)
    await inspect(engine, policy)
    content = await compute(engine, policy, "2026-Q1", AFTER_Q1)
    a_id, b_id = (r["network_inspection"]["inspection_id"] for r in content["townships"][:2])
    assert network(content) == {
        A: (
            {
                "inspection_id": a_id,
                "inspected_on": "2026-03-20",
                "inspectors": ["李四"],
                "met": 5,
                "of": 6,
                "unmet": ["publications"],
            },
            9,
        ),
        B: (
            {
                "inspection_id": b_id,
                "inspected_on": "2026-03-31",
                "inspectors": ["李四"],
                "met": 6,
                "of": 6,
                "unmet": [],
            },
            0,
        ),
        C: (None, 6),
    }
    # The year so far (to 2026-04-01, today): 青山乡 has gone a seventh day without; 梅林镇's Q2
    # inspection is the latest.
    year = network(await compute(engine, policy, "2026", AFTER_Q1))
    assert {t: (i and (i["inspected_on"], i["unmet"]), days) for t, (i, days) in year.items()} == {
        A: (("2026-03-20", ["publications"]), 9),
        B: (("2026-04-01", ["office"]), 0),
        C: (None, 7),
    }

    page = bulletin_html(content, published_at=None, tz=policy.tz)
    assert "四、信息网络建设情况" in page and "五、计分规则" in page
    for shown in ("5/6，缺：有相关刊物", "6/6", "未检查", "9 天", "0 天", "6 天"):
        assert shown in page, shown
    book = openpyxl.load_workbook(io.BytesIO(bulletin_xlsx(content, policy.tz)))
    assert book.sheetnames == ["排名", "点名批评", "信息采用", "网络建设"]
    rows = [[c.value for c in row] for row in book["网络建设"].iter_rows()]
    assert rows == [
        ["乡镇", "最近检查日期", "六有达标（项）", "未达标条件", "检查人", "信息员空缺（天）"],
        [A, datetime(2026, 3, 20), 5, "有相关刊物", "李四", 9],
        [B, datetime(2026, 3, 31), 6, None, "李四", 0],
        [C, None, None, "未检查", None, 6],
    ]
    table = _table(content, None, policy.tz)
    assert "六有（最近检查）" in table and "5/6，缺：有相关刊物（2026-03-20）" in table


async def test_a_draft_counts_the_days_so_far(engine: AsyncEngine, policy: Policy) -> None:
    await register(engine, policy)
    content = await compute(engine, policy, "2026-Q1", utc(2026, 2, 15, 2))  # 10:00 on Feb 15
    # 城关镇: Feb 11-15 so far; 梅林镇's first term starts in March: none registered yet.
    assert network(content) == {A: (None, 5), B: (None, None), C: (None, 0)}
    page = bulletin_html(content, published_at=None, tz=policy.tz)
    assert "未备案信息员" in page and "5 天" in page


async def test_a_bulletin_published_before_these_were_counted_still_renders(
    engine: AsyncEngine, policy: Policy
) -> None:
    await register(engine, policy)
    content = await compute(engine, policy, "2026-Q1", AFTER_Q1)
    for row in content["townships"]:  # what bulletins published before carry
        del row["network_inspection"], row["officer_vacancy_days"]
    page = bulletin_html(content, published_at=AFTER_Q1, tz=policy.tz)
    assert "信息网络建设情况" not in page and "四、计分规则" in page
    book = openpyxl.load_workbook(io.BytesIO(bulletin_xlsx(content, policy.tz)))
    assert book.sheetnames == ["排名", "点名批评", "信息采用"]
    table = _table(content, AFTER_Q1, policy.tz)
    assert "六有" not in table and A in table
