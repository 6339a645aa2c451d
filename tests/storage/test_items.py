"""Routine items (日常信息) against a real database: submitted, reviewed, revised, forwarded; no urgent
clocks and no entries, whatever happens to them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import items
from alerting.county.items import Decision
from alerting.domain import ItemDecision, ItemStatus
from alerting.errors import ConflictError, InvalidReport, NotFound
from alerting.policy.model import Policy
from alerting.storage.schema import accountability_entries, deadlines
from consumers.intake import Outcome
from tests.storage.test_rule_reports import HOUR, routine_item, store, utc

TZ = ZoneInfo("Asia/Shanghai")
AT = utc(2026, 3, 3, 2)  # Tuesday 10:00 local
SECTION = "信息科李四"


async def decide(engine: AsyncEngine, item_id: str, decision: Decision, hours: int) -> None:
    async with engine.begin() as conn:
        await items.decide(conn, item_id, decision, SECTION, TZ, AT + hours * HOUR)


async def detail(engine: AsyncEngine, item_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await items.item_detail(conn, item_id, TZ)


async def counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        entries = (await conn.execute(select(func.count()).select_from(accountability_entries))).scalar()
        clocks = (
            await conn.execute(
                select(func.count()).select_from(deadlines).where(deadlines.c.incident_id.isnot(None))
            )
        ).scalar()
    return int(entries or 0), int(clocks or 0)


async def test_returned_revised_then_adopted_with_its_publication(
    engine: AsyncEngine, policy: Policy
) -> None:
    first = routine_item("城关镇", AT, category="社情民意")
    assert (await store(engine, policy, first)).outcome is Outcome.STORED
    assert (await store(engine, policy, first)).outcome is Outcome.DUPLICATE  # a redelivery

    await decide(engine, first.item_id, Decision(ItemDecision.RETURN, 1, reason="数据来源不清"), 1)
    second = routine_item("城关镇", AT + 2 * HOUR, category="社情民意", version_of=first.item_id)
    await store(engine, policy, second)
    # The reviewer still looking at version 1 is told that version 2 has come in.
    with pytest.raises(ConflictError, match="version 1 is stale: version 2 is current"):
        await decide(engine, first.item_id, Decision(ItemDecision.FILE, 1), 3)
    adopt = Decision(
        ItemDecision.ADOPT,
        2,
        level="city",
        publication="《XX信息》",
        issue="2026年第12期",
        published_on=date(2026, 3, 5),
    )
    await decide(engine, first.item_id, adopt, 3)
    with pytest.raises(ConflictError, match="version 2 was already adopted by 信息科李四"):
        await decide(engine, first.item_id, adopt, 4)
    with pytest.raises(InvalidReport, match=r"was adopted .* it takes no new version"):
        await store(
            engine,
            policy,
            routine_item("城关镇", AT + 5 * HOUR, category="社情民意", version_of=first.item_id),
        )

    found = await detail(engine, first.item_id)
    assert (found["status"], found["version"], found["adoption_level"]) == (ItemStatus.ADOPTED, 2, "city")
    assert (found["publication"], found["publication_issue"], found["publication_date"]) == (
        "《XX信息》",
        "2026年第12期",
        "2026-03-05",
    )
    assert [v["submission_id"] for v in found["versions"]] == [first.submission_id, second.submission_id]
    assert [(e["kind"], e["version"], e["actor"], e["text"]) for e in found["timeline"]] == [
        ("submitted", 1, "城关镇", "城关镇报送第 1 版"),
        ("returned", 1, SECTION, "信息科李四退回第 1 版（理由：数据来源不清）"),
        ("submitted", 2, "城关镇", "城关镇报送第 2 版"),
        ("adopted", 2, SECTION, "信息科李四采用第 2 版（市级采用，刊于《XX信息》2026年第12期）"),
    ]
    assert await counts(engine) == (0, 0)  # no urgent clocks, no entries


async def test_only_an_adopted_item_is_forwarded_and_the_forward_is_recorded(
    engine: AsyncEngine, policy: Policy
) -> None:
    item = routine_item("梅林镇", AT, category="经验做法")
    await store(engine, policy, item)
    async with engine.begin() as conn:
        with pytest.raises(ConflictError, match="only an adopted item is forwarded upward"):
            await items.forward(conn, item.item_id, "市委办", None, SECTION, TZ, AT + HOUR)
    await decide(engine, item.item_id, Decision(ItemDecision.ADOPT, 1, level="county"), 1)
    async with engine.begin() as conn:
        await items.forward(conn, item.item_id, "市委办", "供市委信息刊物参考", SECTION, TZ, AT + 2 * HOUR)
    [*_, forwarded] = (await detail(engine, item.item_id))["timeline"]
    assert (forwarded["at"], forwarded["text"], forwarded["details"]) == (
        AT + 2 * HOUR,
        "信息科李四上报第 1 版，报送市委办",
        {"to": "市委办", "note": "供市委信息刊物参考"},
    )


async def test_filed_items_take_no_new_version_and_bad_items_are_refused(
    engine: AsyncEngine, policy: Policy
) -> None:
    item = routine_item("青山乡", AT, category="工作动态")
    await store(engine, policy, item)
    await decide(engine, item.item_id, Decision(ItemDecision.FILE, 1), 1)
    with pytest.raises(InvalidReport, match="was filed"):
        await store(
            engine,
            policy,
            routine_item("青山乡", AT + 2 * HOUR, category="工作动态", version_of=item.item_id),
        )
    with pytest.raises(InvalidReport, match="belongs to 青山乡, not 城关镇"):
        await store(
            engine,
            policy,
            routine_item("城关镇", AT + 3 * HOUR, category="工作动态", version_of=item.item_id),
        )
    with pytest.raises(InvalidReport, match="安全生产 is an urgent category: submit it as an urgent report"):
        await store(engine, policy, routine_item("城关镇", AT, category="安全生产"))
    with pytest.raises(InvalidReport, match="unknown category 宣传; the routine categories are: 工作动态、"):
        await store(engine, policy, routine_item("城关镇", AT, category="宣传"))
    with pytest.raises(InvalidReport, match="不存在镇 is not in the policy's township directory"):
        await store(engine, policy, routine_item("不存在镇", AT, category="工作动态"))
    with pytest.raises(NotFound):
        await decide(engine, "no-such-item", Decision(ItemDecision.FILE, 1), 1)
    listed = await _list(engine, township="青山乡")
    assert [(i["id"], i["status"]) for i in listed] == [(item.item_id, "filed")]
    assert await counts(engine) == (0, 0)


async def _list(engine: AsyncEngine, **filters: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return await items.list_items(conn, **filters)


async def test_lists_are_newest_first_filtered_and_paged(engine: AsyncEngine, policy: Policy) -> None:
    for n, town in enumerate(["城关镇", "梅林镇", "城关镇"]):
        await store(engine, policy, routine_item(town, AT + n * HOUR, category="工作动态"))
    newest = await _list(engine, township="城关镇")
    assert [i["submitted_at"] for i in newest] == [AT + 2 * HOUR, AT]
    assert [i["submitted_at"] for i in await _list(engine, before=AT + 2 * HOUR, limit=1)] == [AT + HOUR]
    assert await _list(engine, status=ItemStatus.ADOPTED) == []
    assert len(await _list(engine, category="工作动态", before=AT + timedelta(days=1))) == 3
