"""The duty officers' board and a township's to-do list against a real database (example policy,
level II: acknowledge in 5 min, phone the city in 30, written report 40 min after the township knew)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import actions, assignments, board, items, notices
from alerting.domain import ItemDecision, NoticeKind
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines
from tests.storage.test_rule_reports import KNOWN, MIN, report, routine_item, store, utc

NOW = KNOWN + 10 * MIN  # 2026-03-02 09:10 local


async def _two_incidents(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("INC-A"))  # received 09:01, nobody acknowledges
    await store(engine, policy, report("INC-B", township="梅林镇", reported_at=KNOWN + 2 * MIN))
    await store(engine, policy, report("INC-C", township="青山乡", reported_at=KNOWN + 2 * MIN))
    async with engine.begin() as conn:
        await actions.acknowledge(conn, "INC-B", "值班员王小明", KNOWN + 3 * MIN)
        await actions.acknowledge(conn, "INC-C", "值班员王小明", KNOWN + 3 * MIN)
        await actions.close(conn, "INC-C", "值班员王小明", policy, KNOWN + 4 * MIN)


def _rows(found: dict[str, object]) -> list[tuple[object, ...]]:
    return [
        (i["id"], i["stage"], i["chips"], i["next_deadline"] and i["next_deadline"]["kind"])  # type: ignore[index]
        for i in found["incidents"]  # type: ignore[attr-defined]
    ]


async def test_the_board_shows_open_incidents_overdue_first_with_stage_chips_and_next_deadline(
    engine: AsyncEngine, policy: Policy
) -> None:
    await _two_incidents(engine, policy)
    async with engine.connect() as conn:
        everything = await board.board(conn, NOW)
        overdue = await board.board(conn, NOW, chip="overdue")
        second_page = await board.board(conn, NOW, limit=1, offset=1)
        meilin = await board.board(conn, NOW, township="梅林镇")
    assert [(c["label"], c["count"]) for c in everything["chips"]] == [
        ("待签收", 1),
        ("处置中", 1),
        ("待报市", 2),
        ("超时", 1),
    ]
    assert _rows(everything) == [
        ("INC-A", "待签收", ["overdue", "to_forward", "unacknowledged"], "ack"),
        ("INC-B", "待报市", ["handling", "to_forward"], "forward_phone"),
    ]  # INC-C is closed: off the board
    assert everything["incidents"][0]["next_deadline"] == {
        "kind": "ack",
        "what": "签收",
        "due_at": KNOWN + 6 * MIN,
    }
    assert everything["incidents"][1]["next_deadline"]["due_at"] == KNOWN + 32 * MIN
    assert (everything["incidents"][1]["acknowledged_by"], everything["total"]) == ("值班员王小明", 2)
    assert (_rows(overdue), overdue["total"]) == (
        [("INC-A", "待签收", ["overdue", "to_forward", "unacknowledged"], "ack")],
        1,
    )
    assert [i["id"] for i in second_page["incidents"]] == ["INC-B"] and second_page["total"] == 2
    assert [i["id"] for i in meilin["incidents"]] == ["INC-B"]

    # Forwarded by phone and in writing: the township's written report is what is awaited now.
    async with engine.begin() as conn:
        await actions.forward(conn, "INC-B", "phone", "值班员王小明", "", KNOWN + 11 * MIN)
        await actions.forward(conn, "INC-B", "written", "值班员王小明", "", KNOWN + 12 * MIN)
        later = await board.board(conn, NOW + 3 * MIN, township="梅林镇")
    assert _rows(later) == [("INC-B", "待书面报告", ["handling"], "written_report")]


async def test_a_township_owes_its_reports_duties_and_assignments_overdue_first(
    engine: AsyncEngine, policy: Policy
) -> None:
    await _two_incidents(engine, policy)
    given = utc(2026, 3, 1, 2)
    async with engine.begin() as conn:
        new = assignments.NewAssignment("春耕备耕工作信息", "请报送进展", KNOWN + 5 * MIN, ("城关镇",))
        made = await assignments.create(conn, new, policy, "信息科李四", given)
        await notices.send(
            conn, notices.NewNotice(NoticeKind.WORK_UPDATE, "三月通报", "正文", ()), policy, "信息科", given
        )
    item = routine_item("城关镇", KNOWN + 2 * MIN, category="社情民意")
    await store(engine, policy, item)
    async with engine.begin() as conn:
        decision = items.Decision(ItemDecision.RETURN, 1, reason="请补充数据")
        await items.decide(conn, item.item_id, decision, "信息科李四", policy.tz, KNOWN + 8 * MIN)
        owed = await board.todo(conn, "城关镇", NOW)
    assert [(o["kind"], o["what"], o["title"], o["overdue"], o["due_at"]) for o in owed["owed"]] == [
        ("assignment", "约稿", "春耕备耕工作信息", True, KNOWN + 5 * MIN),
        ("written_report", "书面报告", report("INC-A").title, False, KNOWN + 40 * MIN),
        ("followup", "第1次续报", report("INC-A").title, False, KNOWN + timedelta(hours=2)),
        ("silence", "报送信息（避免长期未报送）", None, False, utc(2026, 3, 23, 16)),
    ]
    assert owed["owed"][0]["assignment_id"] == made["id"]
    assert [(r["id"], r["reason"], r["version"]) for r in owed["returned_items"]] == [
        (item.item_id, "请补充数据", 1)
    ]
    assert owed["unread_notices"] == 1


async def test_the_shared_board_is_recomputed_after_a_change_or_two_seconds(
    engine: AsyncEngine, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = [1000.0]  # this process's monotonic clock, moved by hand
    monkeypatch.setattr(board, "_monotonic", lambda: ticks[0])
    await _two_incidents(engine, policy)
    async with engine.connect() as conn:
        first = await board.cached_board(conn, NOW)
    async with engine.begin() as conn:  # a change no incident shows (a deadline settled by hand)
        await conn.execute(
            deadlines.update()
            .where(deadlines.c.incident_id == "INC-A", deadlines.c.kind == "ack")
            .values(state="met")
        )
    ticks[0] += 1.5
    async with engine.connect() as conn:
        shared = await board.cached_board(conn, NOW + timedelta(seconds=1))
        later = await board.cached_board(conn, NOW + board.FRESH_FOR + timedelta(seconds=1))
    assert _rows(shared) == _rows(first) and shared["at"] == NOW + timedelta(seconds=1)  # the shared one
    assert shared["version"] == first["version"]
    assert _rows(later)[0][3] == "forward_phone"  # recomputed once it is two seconds old
    assert later["version"] != first["version"]  # what it shows has changed

    async with engine.begin() as conn:  # an act: seen once the shared board is a second old
        await actions.acknowledge(conn, "INC-A", "值班员王小明", NOW + 3 * timedelta(seconds=1))
    at = NOW + board.FRESH_FOR + timedelta(seconds=2)
    async with engine.connect() as conn:
        still = await board.cached_board(conn, at)
        mine = await board.cached_board(conn, at, fresh=True)  # the answer to one's own act
        ticks[0] += board.SHARED_FOR.total_seconds()
        acted = await board.cached_board(conn, at)
    assert [r[1] for r in _rows(still)] == [r[1] for r in _rows(later)] and "待签收" in _rows(still)[0][1]
    assert [r[1] for r in _rows(mine)] == ["待报市", "待报市"]
    assert [r[1] for r in _rows(acted)] == ["待报市", "待报市"] and acted["version"] == mine["version"]
