"""Channels' rate budgets and digests: the Outbox against a real database and a WeCom or DingTalk
robot on 127.0.0.1 that enforces 20 messages a minute with its own refusal.

The robots' clocks follow the FakeClock; the tests jump the clock to the outbox's next due row and
wait only for the sends a tick started to be recorded.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.clock import FakeClock
from alerting.domain import DeadlineKind
from alerting.links import AckLinks
from alerting.metrics import Metrics
from alerting.policy.channels import AnyChannel, DingtalkChannel, FeishuChannel, WecomChannel
from alerting.policy.roster import Recipient
from alerting.storage.engine import create_engine
from alerting.storage.schema import channel_slots, notifications
from escalation.messages import Subject, escalation_payload
from escalation.notify import probe
from escalation.notify.outbox import Outbox
from tests import dingtalk_robot, feishu_bot, wecom_robot
from tests.support import due_notification, eventually, example_policy, fired_escalation, migrated_engine

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in the county
LEASE = timedelta(minutes=2)
LINKS = AckLinks(b"0123456789abcdef0123", "http://127.0.0.1:8000", timedelta(days=3))
KEY = "robot-key-0001"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url) as engine:
        yield engine


def wecom(url: str, **fields: Any) -> WecomChannel:
    return WecomChannel(type="wecom", url=url, format="markdown", **fields)


def outbox(
    engine: AsyncEngine, channels: dict[str, AnyChannel], clock: FakeClock, client: httpx.AsyncClient
) -> Outbox:
    base = example_policy("http://127.0.0.1:9/unused")
    policy = base.model_copy(
        update={"channels": {**base.channels, **channels}, "delivery_failure_channels": ()}
    )
    return Outbox(engine, policy, clock, client, Metrics(), lease=LEASE)


async def seed(engine: AsyncEngine, channel: str, count: int, now: datetime) -> list[str]:
    """`count` follow-up notifications due at `now` on `channel`, one per incident, each with the
    duty officer's own link; returns the links, one per incident."""
    async with engine.begin() as conn:
        escalation_id = await fired_escalation(conn, DeadlineKind.FOLLOWUP, "budget", now, ["duty_officer"])
        links, rows = [], []
        for n in range(count):
            incident = f"2026-0302-{n:04d}"
            link = LINKS.url(incident, "李四", "duty_officer", now)
            key = f"{incident}:followup:1:0"
            payload = escalation_payload(
                subject=Subject("城关镇", incident, f"某村道路塌方{n}号", "III", "自然灾害"),
                kind=DeadlineKind.FOLLOWUP,
                due_at=now,
                round_number=1,
                step=0,
                roles=("duty_officer",),
                recipients=[Recipient("duty_officer", "李四", "13800000001")],
                unresolved=["duty_officer"],
                ack_urls={"李四": link},
                idempotency_key=key,
                timezone="Asia/Shanghai",
            )
            links.append(link)
            rows.append(due_notification(escalation_id, channel, key, payload, now))
        await conn.execute(notifications.insert(), rows)
    return links


async def states(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(notifications.c.state, func.count()).group_by(notifications.c.state))
        return Counter({state: n for state, n in rows})


async def run_until_settled(
    engines: Sequence[AsyncEngine],
    outboxes: Sequence[Outbox],
    clocks: Sequence[FakeClock],
    robot: Any,
    until: datetime,
) -> None:
    """Tick every outbox (replicas) at the fake time, wait for their sends, jump to the next due row."""
    while clocks[0].now() <= until:
        robot.now = clocks[0].now()
        for box, clock in zip(outboxes, clocks, strict=True):
            await box.tick(clock.now())

        async def settled() -> bool:
            return (await states(engines[0]))["sending"] == 0

        await eventually(settled, "sends recorded")
        async with engines[0].connect() as conn:
            due = (await conn.execute(select(func.min(notifications.c.next_attempt_at)))).scalar_one_or_none()
        if due is None:
            return
        for clock in clocks:
            await clock.set(max(due, clock.now()))


def shown_links(robot: wecom_robot.Robot) -> list[str]:
    return [
        link
        for body in robot.shown
        for link in re.findall(r"\((http://127\.0\.0\.1:8000/ack/[^)]+)\)", body["markdown"]["content"])
    ]


async def test_500_follow_ups_reach_one_wecom_robot_within_two_minutes_without_a_refusal(
    engine: AsyncEngine, database_url: str
) -> None:
    clock, other_clock = FakeClock(T0), FakeClock(T0)
    replica_engine = create_engine(database_url)  # a second replica: its own engine and client
    try:
        async with wecom_robot.robot(KEY, T0) as robot, httpx.AsyncClient() as a, httpx.AsyncClient() as b:
            channels: dict[str, AnyChannel] = {"group": wecom(robot.url)}
            links = await seed(engine, "group", 500, T0)
            boxes = [outbox(engine, channels, clock, a), outbox(replica_engine, channels, other_clock, b)]
            await run_until_settled(
                [engine, replica_engine], boxes, [clock, other_clock], robot, T0 + timedelta(minutes=5)
            )
            finished = robot.accepted_at[-1]
    finally:
        await replica_engine.dispose()

    assert await states(engine) == Counter({"sent": 500})
    assert len(robot.received) == len(robot.shown)  # the robot refused nothing
    assert Counter(shown_links(robot)) == Counter(links)  # every incident once, with its own link
    assert finished - T0 <= timedelta(minutes=2)
    per_minute = [t for t in robot.accepted_at if t < T0 + timedelta(minutes=1)]
    assert len(per_minute) <= 20
    assert all(len(b["markdown"]["content"].encode()) <= 4096 for b in robot.shown)
    async with engine.connect() as conn:
        digests = (
            await conn.execute(select(func.count(func.distinct(notifications.c.digest_key))))
        ).scalar_one()
    assert digests == len(robot.shown)


async def test_what_finds_no_slot_waits_for_one_and_is_not_dropped(engine: AsyncEngine) -> None:
    clock = FakeClock(T0)
    async with wecom_robot.robot(KEY, T0) as robot, httpx.AsyncClient() as client:
        box = outbox(engine, {"group": wecom(robot.url, digest=False)}, clock, client)
        await seed(engine, "group", 25, T0)
        await run_until_settled([engine], [box], [clock], robot, T0 + timedelta(seconds=30))
        assert await states(engine) == Counter({"sent": 20, "pending": 5})
        async with engine.connect() as conn:
            waiting = (await conn.execute(select(func.min(notifications.c.next_attempt_at)))).scalar_one()
        assert waiting == T0 + timedelta(minutes=1)  # the first slot's answer came at T0
        await run_until_settled([engine], [box], [clock], robot, T0 + timedelta(minutes=5))
    assert await states(engine) == Counter({"sent": 25})
    assert len(robot.shown) == len(robot.received) == 25
    assert robot.accepted_at[20:] == [T0 + timedelta(minutes=1)] * 5


async def test_a_rate_refusal_holds_the_whole_channel_until_the_robot_takes_again(
    engine: AsyncEngine,
) -> None:
    """Someone else's messages filled the robot's minute: the refusal (45009) holds every slot."""
    clock = FakeClock(T0)
    async with wecom_robot.robot(KEY, T0) as robot, httpx.AsyncClient() as client:
        robot.accepted_at.extend([T0 - timedelta(seconds=10)] * 20)
        box = outbox(engine, {"group": wecom(robot.url, digest=False)}, clock, client)
        await seed(engine, "group", 3, T0)
        robot.now = T0
        await box.tick(T0)
        await eventually(lambda: _none_sending(engine), "recorded")
        assert len(robot.received) == 3 and robot.shown == []  # the three free slots, all refused
        async with engine.connect() as conn:
            rows = (await conn.execute(select(notifications.c.state, notifications.c.next_attempt_at))).all()
            slots = (await conn.execute(select(func.min(channel_slots.c.used_at)))).scalar_one()
        assert {r.state for r in rows} == {"pending"}
        assert all(r.next_attempt_at >= T0 + timedelta(minutes=1) for r in rows)
        assert slots == T0  # no slot frees before T0 + 1 min: used_at + 1 min
        await run_until_settled([engine], [box], [clock], robot, T0 + timedelta(minutes=5))
    assert await states(engine) == Counter({"sent": 3})
    assert len(robot.received) == 6


async def _none_sending(engine: AsyncEngine) -> bool:
    return (await states(engine))["sending"] == 0


async def test_a_digest_retried_is_the_same_digest_with_the_same_msguuid(engine: AsyncEngine) -> None:
    clock = FakeClock(T0)
    async with dingtalk_robot.robot("tok", None, T0) as robot, httpx.AsyncClient() as client:
        robot.script.append({"errcode": -1, "errmsg": "系统繁忙"})
        channel = DingtalkChannel(type="dingtalk", url=robot.url)
        box = outbox(engine, {"ding": channel}, clock, client)
        await seed(engine, "ding", 4, T0)
        await run_until_settled([engine], [box], [clock], robot, T0 + timedelta(minutes=5))
        first, second = robot.received
    assert await states(engine) == Counter({"sent": 4})
    assert first.body == second.body  # the same members in the same order, the same msgUuid
    assert first.body["msgUuid"].startswith("digest:")
    assert first.body["markdown"]["text"].count("/ack/") == 4


async def test_a_feishu_bot_gets_five_a_second_and_nothing_is_refused(engine: AsyncEngine) -> None:
    clock = FakeClock(T0)
    hook_id = "2b5f1c6e-9a3d-4f7b-8c1e-0d2a3b4c5d6e"
    async with feishu_bot.bot(hook_id, None, T0) as bot, httpx.AsyncClient() as client:
        channel = FeishuChannel(type="feishu", url=bot.url, digest=False)
        box = outbox(engine, {"lark": channel}, clock, client)
        await seed(engine, "lark", 12, T0)
        await run_until_settled([engine], [box], [clock], bot, T0 + timedelta(minutes=1))
    assert await states(engine) == Counter({"sent": 12})
    assert len(bot.received) == 12  # none refused with 11232
    assert Counter(bot.accepted_at) == {T0: 5, T0 + timedelta(seconds=1): 5, T0 + timedelta(seconds=2): 2}


async def test_a_test_message_keeps_to_the_budget_the_service_shares(engine: AsyncEngine) -> None:
    """发送测试消息 during a burst: no slot free, nothing sent (a 21st message would have a DingTalk
    robot block the county's alerts for 10 minutes); with a slot, the test spends it."""
    clock = FakeClock(T0)
    async with wecom_robot.robot(KEY, T0) as robot, httpx.AsyncClient() as client:
        channel = wecom(robot.url, digest=False)
        box = outbox(engine, {"group": channel}, clock, client)
        await seed(engine, "group", 19, T0)
        await run_until_settled([engine], [box], [clock], robot, T0)
        payload = probe.probe_payload("group", "管理员", T0, [])
        shared = probe.Budget(engine, "group", clock)

        last = await probe.probe(client, channel, payload, shared)
        refused = await probe.probe(client, channel, payload, shared)

    assert last.delivered and len(robot.shown) == 20
    assert (refused.delivered, refused.retryable, refused.detail) == (False, True, "rate budget in use")
    assert "请约 60 秒后再试" in refused.explained
    assert len(robot.received) == 20  # the refused test never reached the robot
