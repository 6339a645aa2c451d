"""The duty officers' reads beside the board (newest open incidents, a shift's acts) and 办结 with its
note on the timeline, against a real database (example policy, level II)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import actions, duty, queries
from alerting.events import EventKind
from alerting.policy.model import Policy
from tests.storage.test_rule_reports import KNOWN, MIN, report, store


async def _three(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("INC-A"))  # received 09:01
    await store(engine, policy, report("INC-B", township="梅林镇", reported_at=KNOWN + 2 * MIN))
    await store(engine, policy, report("INC-C", township="青山乡", reported_at=KNOWN + 3 * MIN))
    async with engine.begin() as conn:
        await actions.acknowledge(conn, "INC-A", "王小明（wxm）", KNOWN + 4 * MIN)
        await actions.acknowledge(conn, "INC-B", "王小明（wxm）", KNOWN + 5 * MIN)
        await actions.forward(
            conn, "INC-B", "phone", "王小明（wxm）", "已电话报市委办值班室", KNOWN + 6 * MIN
        )
        await actions.close(
            conn, "INC-A", "陈丽（cl）", policy, KNOWN + 7 * MIN, note="火情已扑灭，现场清理完毕"
        )


async def test_newest_open_incidents_come_first_and_closed_ones_are_left_out(
    engine: AsyncEngine, policy: Policy
) -> None:
    await _three(engine, policy)
    async with engine.connect() as conn:
        newest = await duty.newest_open(conn)
        one = await duty.newest_open(conn, limit=1)
    assert [(i["id"], i["township"]) for i in newest] == [("INC-C", "青山乡"), ("INC-B", "梅林镇")]
    assert [i["id"] for i in one] == ["INC-C"]


async def test_a_shifts_acts_are_listed_in_the_order_done_within_its_bounds(
    engine: AsyncEngine, policy: Policy
) -> None:
    await _three(engine, policy)
    async with engine.connect() as conn:
        acts = await duty.shift_acts(conn, KNOWN, KNOWN + 10 * MIN)
        later = await duty.shift_acts(conn, KNOWN + 5 * MIN, KNOWN + 7 * MIN)  # [since, until)
    assert [(a["at"], a["act"], a["incident_id"], a["actor"]) for a in acts] == [
        (KNOWN + 4 * MIN, "签收", "INC-A", "王小明（wxm）"),
        (KNOWN + 5 * MIN, "签收", "INC-B", "王小明（wxm）"),
        (KNOWN + 6 * MIN, "上报市委办", "INC-B", "王小明（wxm）"),
        (KNOWN + 7 * MIN, "办结", "INC-A", "陈丽（cl）"),
    ]
    assert acts[2]["details"] == {"mode": "phone", "note": "已电话报市委办值班室"}
    assert acts[3]["details"]["note"] == "火情已扑灭，现场清理完毕"
    assert [(a["act"], a["incident_id"]) for a in later] == [("签收", "INC-B"), ("上报市委办", "INC-B")]


async def test_the_close_note_and_the_forward_note_are_on_the_timeline(
    engine: AsyncEngine, policy: Policy
) -> None:
    await _three(engine, policy)
    async with engine.begin() as conn:
        await actions.close(conn, "INC-C", "陈丽（cl）", policy, KNOWN + 8 * MIN)  # no note: as before
    async with engine.connect() as conn:
        a = await queries.incident_detail(conn, "INC-A", policy.tz)
        b = await queries.incident_detail(conn, "INC-B", policy.tz)
        c = await queries.incident_detail(conn, "INC-C", policy.tz)
    closed_a = [t["text"] for t in a["timeline"] if t["kind"] == "closed"]
    assert closed_a == ["应急响应结束（陈丽（cl）），开始计算终报时限；办结说明：火情已扑灭，现场清理完毕"]
    assert [t["text"] for t in b["timeline"] if t["kind"] == "forwarded"] == [
        "王小明（wxm） 已电话上报市委办（已电话报市委办值班室）"
    ]
    assert [t["text"] for t in c["timeline"] if t["kind"] == "closed"] == [
        "应急响应结束（陈丽（cl）），开始计算终报时限"
    ]
    assert "note" not in next(t for t in c["timeline"] if t["kind"] == "closed")["details"]


async def test_the_last_act_of_a_kind_names_who_did_it_and_when(engine: AsyncEngine, policy: Policy) -> None:
    await _three(engine, policy)
    async with engine.connect() as conn:
        phoned = await duty.last_act(conn, "INC-B", EventKind.FORWARDED, "phone")
        written = await duty.last_act(conn, "INC-B", EventKind.FORWARDED, "written")
        closed = await duty.last_act(conn, "INC-A", EventKind.CLOSED)
        not_closed = await duty.last_act(conn, "INC-B", EventKind.CLOSED)
    assert (phoned.at, phoned.actor) == (KNOWN + 6 * MIN, "王小明（wxm）")
    assert written is None and not_closed is None
    assert (closed.at, closed.actor) == (KNOWN + 7 * MIN, "陈丽（cl）")
