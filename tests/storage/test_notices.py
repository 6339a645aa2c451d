"""Notices to townships (通报工作动态、报送要点) against a real database: sent to all or some, each
township lists its own, the first read is kept, and the section sees exactly who has read what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import notices
from alerting.county.notices import NewNotice
from alerting.domain import NoticeKind
from alerting.errors import NotFound, UnknownTownship
from alerting.policy.model import Policy

A, B, C = "城关镇", "梅林镇", "青山乡"
T0 = datetime(2026, 3, 2, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
INFO = "信息科李四"


async def send_two(engine: AsyncEngine, policy: Policy) -> tuple[str, str]:
    async with engine.begin() as conn:
        to_all = await notices.send(
            conn,
            NewNotice(NoticeKind.WORK_UPDATE, "县委三月工作动态", "一、春耕……", ()),
            policy,
            INFO,
            T0,
        )
        to_two = await notices.send(
            conn,
            NewNotice(NoticeKind.REPORTING_POINTS, "二季度报送要点", "重点报送……", (A, C, A)),
            policy,
            INFO,
            T0 + HOUR,
        )
    return to_all["id"], to_two["id"]


async def test_sent_to_all_or_two_townships_each_lists_its_own(engine: AsyncEngine, policy: Policy) -> None:
    to_all, to_two = await send_two(engine, policy)
    async with engine.connect() as conn:
        everything = await notices.get(conn, to_all)
        two = await notices.get(conn, to_two)
        mine = {t: await notices.list_for_township(conn, t) for t in (A, B, C)}
        sent = await notices.list_sent(conn)
        sent_to_b = await notices.list_sent(conn, township=B)
        points = await notices.list_sent(conn, kind=NoticeKind.REPORTING_POINTS)
    assert (everything["to_all"], everything["unread"], everything["kind_zh"]) == (
        True,
        [A, B, C],
        "通报工作动态",
    )
    assert (two["to_all"], two["unread"], two["read"], two["kind_zh"]) == (False, [A, C], [], "报送要点")
    assert {t: [n["id"] for n in found] for t, found in mine.items()} == {
        A: [to_two, to_all],  # newest first
        B: [to_all],
        C: [to_two, to_all],
    }
    assert all(not n["read"] and n["read_at"] is None for found in mine.values() for n in found)
    assert [(n["id"], n["addressed"], n["read_count"]) for n in sent] == [(to_two, 2, 0), (to_all, 3, 0)]
    assert [n["id"] for n in sent_to_b] == [to_all]
    assert [n["id"] for n in points] == [to_two]


async def test_the_first_read_is_kept_and_the_section_sees_exactly_who_read(
    engine: AsyncEngine, policy: Policy
) -> None:
    to_all, to_two = await send_two(engine, policy)
    async with engine.begin() as conn:
        first = await notices.mark_read(conn, to_all, A, "城关镇信息员王五", T0 + 2 * HOUR)
        again = await notices.mark_read(conn, to_all, A, "城关镇 另一令牌", T0 + 5 * HOUR)
        await notices.mark_read(conn, to_all, C, "青山乡信息员", T0 + 3 * HOUR)
        await notices.mark_read(conn, to_two, C, "青山乡信息员", T0 + 4 * HOUR)
        not_sent = await notices.mark_read(conn, to_two, B, "梅林镇信息员", T0 + 4 * HOUR)
        with pytest.raises(NotFound, match="no notice ntc-none"):
            await notices.mark_read(conn, "ntc-none", A, "城关镇信息员王五", T0)
    assert first == {
        "notice_id": to_all,
        "township": A,
        "read": True,
        "read_at": T0 + 2 * HOUR,
        "read_by": "城关镇信息员王五",
        "already_read": False,
    }
    assert again == {**first, "already_read": True}  # who and when of the first read
    assert not_sent is None
    async with engine.connect() as conn:
        everything = await notices.get(conn, to_all)
        two = await notices.get(conn, to_two)
        sent = await notices.list_sent(conn)
        a_unread = await notices.list_for_township(conn, A, unread_only=True)
        own = await notices.read_of(conn, to_all, B)
        none = await notices.read_of(conn, to_two, B)
    assert everything["reads"] == [
        {"township": A, "read": True, "read_at": T0 + 2 * HOUR, "read_by": "城关镇信息员王五"},
        {"township": B, "read": False, "read_at": None, "read_by": None},
        {"township": C, "read": True, "read_at": T0 + 3 * HOUR, "read_by": "青山乡信息员"},
    ]
    assert (everything["read"], everything["unread"]) == ([A, C], [B])
    assert (two["read"], two["unread"]) == ([C], [A])
    assert [(n["id"], n["read_count"]) for n in sent] == [(to_two, 1), (to_all, 2)]
    assert [n["id"] for n in a_unread] == [to_two]
    assert own is not None and (own["township"], own["read"], own["title"]) == (B, False, "县委三月工作动态")
    assert "reads" not in own  # a township sees its own read, not the others'
    assert none is None


async def test_unknown_townships_are_refused_naming_the_known_ones(
    engine: AsyncEngine, policy: Policy
) -> None:
    async with engine.begin() as conn:
        with pytest.raises(UnknownTownship, match="不存在镇 不在乡镇名录中，可选：城关镇、梅林镇、青山乡"):
            await notices.send(
                conn, NewNotice(NoticeKind.WORK_UPDATE, "t", "b", (A, "不存在镇")), policy, INFO, T0
            )
    async with engine.connect() as conn:
        assert await notices.list_sent(conn) == []
        with pytest.raises(NotFound):
            await notices.get(conn, "ntc-none")
