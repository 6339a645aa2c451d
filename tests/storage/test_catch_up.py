"""A round sent late stands for the rounds before it: nobody in the chain is skipped, each person is
told once, and the log holds exactly what happened. Policy: deploy/policy.example.toml."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.domain import DeadlineKind, Level
from alerting.policy.channels import SmsChannel
from alerting.policy.model import Chain, Policy, Step
from alerting.storage.schema import escalations, notifications
from tests.storage.test_rule_reports import (
    HOUR,
    KNOWN,
    MIN,
    _chain_verifies,  # noqa: F401  (autouse: the chain verifies after each test)
    deadline,
    entries,
    fire,
    report,
    store,
)


async def test_a_deadline_first_fired_an_hour_late_reaches_every_step(
    engine: AsyncEngine, policy: Policy
) -> None:
    # Level III: written report due 60 minutes after known_at. The first report arrives two hours
    # after known_at, so the written report is an hour overdue when the incident opens: rounds at
    # 0, 10, 20 and 50 minutes are all due at once.
    arrived = KNOWN + 2 * HOUR
    late_first = report("inc", level=Level.III, reported_at=arrived)
    await store(engine, policy, late_first)
    fired = [f for f in await fire(engine, policy, arrived) if f.kind is DeadlineKind.WRITTEN_REPORT]

    written = await deadline(engine, DeadlineKind.WRITTEN_REPORT, incident_id="inc")
    assert [(f.round, f.scheduled_for) for f in fired] == [(3, KNOWN + 60 * MIN + 50 * MIN)]
    async with engine.connect() as conn:
        [esc] = (await conn.execute(select(escalations).where(escalations.c.deadline_id == written.id))).all()
        notes = (
            await conn.execute(select(notifications).where(notifications.c.escalation_id == esc.id))
        ).all()
    # One round, one message each, to the township leader and duty officer (step 1), the section
    # chief (step 2) and the director (step 3 and its repeat).
    assert [r["role"] for r in esc.recipients] == [
        "township_leader",
        "duty_officer",
        "section_chief",
        "director",
    ]
    assert esc.roles == ["township_leader", "duty_officer", "section_chief", "director"]
    [note] = notes
    payload = note.payload
    assert [r["role"] for r in payload["recipients"]] == esc.roles
    duty = payload["recipients"][1]["name"]
    assert payload["text"].endswith(
        f"请城关镇 党委办 李主任、值班员{duty}、信息科 刘科长、县委办 陈主任立即处理。"
    ), payload["text"]
    # The whole log: the late first report, and the written report missed (entered once).
    assert [(e.kind, e.details["deadline"], e.delay_seconds) for e in await entries(engine)] == [
        ("late_report", "first_report", 100 * 60),
        ("missing_report", "written_report", None),
    ]


async def test_a_round_on_time_reaches_only_its_own_step(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("inc", level=Level.III))
    due = KNOWN + 60 * MIN
    await fire(engine, policy, due)
    await fire(engine, policy, due + 10 * MIN)
    written = await deadline(engine, DeadlineKind.WRITTEN_REPORT, incident_id="inc")
    async with engine.connect() as conn:
        rounds = (
            await conn.execute(
                select(escalations.c.round, escalations.c.roles)
                .where(escalations.c.deadline_id == written.id)
                .order_by(escalations.c.round)
            )
        ).all()
    assert [(r.round, r.roles) for r in rounds] == [
        (0, ["township_leader", "duty_officer"]),
        (1, ["section_chief"]),
    ]


async def test_each_step_of_a_late_round_keeps_its_own_channels(engine: AsyncEngine, policy: Policy) -> None:
    # The duty officer is told by SMS, the section chief on the county webhook; a round that stands
    # for both sends each their own way, and nobody twice.
    sms = SmsChannel(type="sms", url="http://127.0.0.1:9/sms")
    chain = Chain(
        steps=(
            Step(after=0 * MIN, roles=("duty_officer",), channels=("duty_sms",)),
            Step(after=10 * MIN, roles=("section_chief", "duty_officer"), channels=("county_webhook",)),
        )
    )
    split = policy.model_copy(
        update={
            "channels": {**policy.channels, "duty_sms": sms},
            "escalation": {**policy.escalation, "written_report": chain},
        }
    )
    arrived = KNOWN + 2 * HOUR
    await store(engine, split, report("inc", level=Level.III, reported_at=arrived))
    await fire(engine, split, arrived)
    written = await deadline(engine, DeadlineKind.WRITTEN_REPORT, incident_id="inc")
    async with engine.connect() as conn:
        [esc] = (await conn.execute(select(escalations).where(escalations.c.deadline_id == written.id))).all()
        notes = (
            await conn.execute(select(notifications).where(notifications.c.escalation_id == esc.id))
        ).all()
    assert (esc.round, esc.roles) == (1, ["duty_officer", "section_chief"])
    by_channel = {n.channel: [r["role"] for r in n.payload["recipients"]] for n in notes}
    assert by_channel == {"duty_sms": ["duty_officer"], "county_webhook": ["section_chief", "duty_officer"]}
