"""A cloud SMS notification through the Outbox, its database and Tencent Cloud's SendSms on
127.0.0.1: each person's acknowledgement code issued once and sent again unchanged on a retry, and a
retry after a partial success sending only to the number still owed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.clock import FakeClock
from alerting.domain import DeadlineKind
from alerting.links import AckLinks
from alerting.metrics import Metrics
from alerting.policy.roster import Recipient
from alerting.storage.schema import ack_codes, notifications
from escalation.messages import Subject, escalation_payload
from escalation.notify.outbox import Outbox
from tests.support import due_notification, eventually, example_policy, fired_escalation, migrated_engine
from tests.unit.test_tencent_sms import channel, receiver

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
LINKS = AckLinks(b"0123456789abcdef0123", "http://127.0.0.1:8000", timedelta(days=3))
LI, WANG = "13800000001", "13800000002"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url) as engine:
        yield engine


async def seed(engine: AsyncEngine, now: datetime) -> int:
    """One acknowledgement escalation to two people, each with their own link, on channel "sms"."""
    people = [Recipient("duty_officer", "李四", LI), Recipient("leader_on_duty", "王五", WANG)]
    async with engine.begin() as conn:
        escalation_id = await fired_escalation(conn, DeadlineKind.ACK, "sms", now, ["duty_officer"])
        key = "INC-S1:1:0"
        payload = escalation_payload(
            subject=Subject("城关镇", "INC-S1", "某企业火情", "II", "安全生产"),
            kind=DeadlineKind.ACK,
            due_at=now,
            round_number=0,
            step=0,
            roles=("duty_officer", "leader_on_duty"),
            recipients=people,
            unresolved=["duty_officer"],
            ack_urls={p.name: LINKS.url("INC-S1", p.name, p.role, now) for p in people},
            idempotency_key=key,
            timezone="Asia/Shanghai",
        )
        row = due_notification(escalation_id, "sms", key, payload, now)
        [row_id] = (await conn.execute(notifications.insert().values(**row))).inserted_primary_key
    return int(row_id)


async def attempt(engine: AsyncEngine, box: Outbox, clock: FakeClock, row_id: int) -> str:
    await box.tick(clock.now())

    async def settled() -> bool:
        async with engine.connect() as conn:
            state = (
                await conn.execute(select(notifications.c.state).where(notifications.c.id == row_id))
            ).scalar_one()
        return state != "sending"

    await eventually(settled, "the attempt recorded")
    async with engine.connect() as conn:
        row = (await conn.execute(select(notifications).where(notifications.c.id == row_id))).one()
    if row.next_attempt_at is not None:
        await clock.set(max(row.next_attempt_at, clock.now()))
    return str(row.state)


async def test_a_partial_success_is_retried_to_the_number_still_owed_with_the_same_code(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock(T0)
    async with receiver(number_codes={f"+86{WANG}": "LimitExceeded.PhoneNumberThirtySecondLimit"}) as sms:
        base = example_policy("http://127.0.0.1:9/unused")
        policy = base.model_copy(
            update={"channels": {"sms": channel(sms.url)}, "delivery_failure_channels": ()}
        )
        async with httpx.AsyncClient() as client:
            box = Outbox(engine, policy, clock, client, Metrics(), lease=timedelta(minutes=2))
            row_id = await seed(engine, T0)
            sms.now = T0
            first = await attempt(engine, box, clock, row_id)
            sms.now = clock.now()
            second = await attempt(engine, box, clock, row_id)
    async with engine.connect() as conn:
        codes = dict((await conn.execute(select(ack_codes.c.recipient, ack_codes.c.code))).all())
    assert (first, second) == ("pending", "sent")
    assert [d.number for d in sms.delivered] == [f"+86{LI}", f"+86{WANG}"]  # each once
    assert [d.params[-1] for d in sms.delivered] == [codes[0], codes[1]]  # their own codes
    asked = [n for body in sms.received for n in body["PhoneNumberSet"]]
    assert asked == [f"+86{LI}", f"+86{WANG}", f"+86{WANG}"]  # the retry went to 王五 only
    assert sms.received[1]["TemplateParamSet"] == sms.received[2]["TemplateParamSet"]  # the same code
