"""People's Feishu ids against a real database: set, cleared and imported with who and when kept,
the earlier ids staying in the table; firing reads them with the directory, at its next pass, into
the notification's recipients (only where known)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import feishu_ids
from alerting.county.directory import changes
from alerting.policy.model import Policy
from alerting.storage.schema import feishu_ids as feishu_table
from alerting.storage.schema import notifications
from escalation.directory import DirectoryWatch, load
from escalation.engine import Firing, fire_due
from tests.storage.test_directory import NOW, ROSTER_END, seeded
from tests.storage.test_rule_reports import HOUR, utc

OU_WANG, OU_CHEN, OU_LIU = "ou_wang0000000000000000000000001", "ou_chen000000000000000000000002", "ou_liu3"
ON_SHIFT = utc(2026, 11, 26, 1)  # 王小明 13800000001 on duty, 李建国 leading


async def test_ids_are_set_cleared_and_kept_in_history(engine: AsyncEngine, policy: Policy) -> None:
    await seeded(engine, policy)
    watch = DirectoryWatch(policy)
    entries = [feishu_ids.Entry("13800000001", OU_WANG), feishu_ids.Entry("+86 138 0000 0002", OU_CHEN)]
    async with engine.begin() as conn:
        before = await watch.current(conn, NOW)
        done = await feishu_ids.set_ids(conn, entries, "信息科李四", "飞书通讯录", NOW)
        after = await watch.current(conn, NOW)
        again = await feishu_ids.set_ids(conn, entries, "信息科李四", "", NOW + HOUR)
        unchanged = await watch.current(conn, NOW + HOUR)
    assert (done["set"], done["cleared"], done["unchanged"]) == (2, 0, 0) and done["change_id"]
    assert again == {"set": 0, "cleared": 0, "unchanged": 2, "change_id": None}
    assert after is not before and unchanged is after  # an import that changes nothing is no change
    [officer, leader] = after.resolve(["duty_officer", "leader_on_duty"], ON_SHIFT)[0]
    assert (officer.name, officer.feishu_user_id, leader.feishu_user_id) == ("王小明", OU_WANG, None)
    assert before.resolve(["duty_officer"], ON_SHIFT)[0][0].feishu_user_id is None

    changed = [feishu_ids.Entry("13800000001", OU_LIU), feishu_ids.Entry("13800000002", None)]
    async with engine.begin() as conn:
        cleared = await feishu_ids.set_ids(conn, changed, "信息科王五", "换号", NOW + 2 * HOUR)
        listed = await feishu_ids.list_ids(conn)
        history = await changes(conn)
        rows = (await conn.execute(select(func.count()).select_from(feishu_table))).scalar_one()
        later = await load(conn, policy, NOW + 2 * HOUR)
    assert (cleared["set"], cleared["cleared"]) == (1, 1)
    assert listed == [
        {
            "phone": "13800000001",
            "feishu_user_id": OU_LIU,
            "by": "信息科王五",
            "at": (NOW + 2 * HOUR).isoformat(),
            "note": "换号",
        }
    ]
    assert rows == 4  # nothing overwritten
    assert [(c["action"], c["action_zh"], c["by"], c["details"]) for c in history[:2]] == [
        ("feishu_ids_set", "设置飞书 ID", "信息科王五", {"set": 1, "cleared": 1, "unchanged": 0}),
        ("feishu_ids_set", "设置飞书 ID", "信息科李四", {"set": 2, "cleared": 0, "unchanged": 0}),
    ]
    assert "13800000001" not in str(history)  # the change log keeps counts, not numbers
    at = utc(2026, 11, 27, 1)  # 陈丽 13800000002 on duty: her id was cleared
    assert later.resolve(["duty_officer"], at)[0][0].feishu_user_id is None


async def test_a_notification_mentions_whoever_has_an_id(engine: AsyncEngine, policy: Policy) -> None:
    await seeded(engine, policy)
    due = ROSTER_END - 24 * HOUR  # the roster's end reminds the section chief (0791-80000001)
    async with engine.begin() as conn:
        await feishu_ids.set_ids(conn, [feishu_ids.Entry("0791-80000001", OU_LIU)], "信息科", "", NOW)
        await fire_due(conn, Firing(policy, await load(conn, policy, due)), due)
        await fire_due(conn, Firing(policy, await load(conn, policy, due + 4 * HOUR)), due + 4 * HOUR)
        payloads = (
            await conn.execute(select(notifications.c.payload).order_by(notifications.c.id))
        ).scalars()
        recipients = [p["recipients"] for p in payloads]
    assert recipients[0] == [
        {
            "role": "section_chief",
            "name": "信息科 刘科长",
            "phone": "0791-80000001",
            "ack_url": None,
            "feishu_user_id": OU_LIU,
        }
    ]
    assert [sorted(r) for r in recipients[-1]] == [
        ["ack_url", "feishu_user_id", "name", "phone", "role"],
        ["ack_url", "name", "phone", "role"],  # the director: no id known, none guessed
    ]
