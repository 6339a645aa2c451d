"""The county's own actions on an incident against a real database, on a fake clock: acknowledge (签收),
forward to the city (上报), close (响应结束) and register an incident learned elsewhere (瞒报核查).

Expectations come from deploy/policy.example.toml; times are UTC (Asia/Shanghai is UTC+8).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import actions
from alerting.county.actions import Registration
from alerting.domain import DeadlineKind, DeadlineState, EntryKind, Level, ReportType
from alerting.errors import UnknownTownship
from alerting.events import EventKind
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines, incident_events, incidents
from tests.storage.test_rule_reports import (
    HOUR,
    KNOWN,
    MICRO,
    MIN,
    RECEIVED,
    SECOND,
    deadline,
    entries,
    escalations_of,
    fire,
    fired_kinds,
    followups,
    report,
    store,
    utc,
    verify_chain,
)

OFFICER = "值班员李四"


@pytest.fixture(autouse=True)
async def _chain_verifies(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    await verify_chain(engine)


async def acknowledge(engine: AsyncEngine, incident_id: str, now: datetime) -> None:
    async with engine.begin() as conn:
        await actions.acknowledge(conn, incident_id, OFFICER, now)


async def close(engine: AsyncEngine, policy: Policy, incident_id: str, now: datetime) -> datetime:
    async with engine.begin() as conn:
        return await actions.close(conn, incident_id, OFFICER, policy, now)


# --- acknowledgement (签收): level II, within 5m of the county receiving the first report ----------

ACK_DUE = RECEIVED + 5 * MIN


async def test_ack_one_second_before_the_deadline_means_no_escalation_and_no_entry(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1"))
    await acknowledge(engine, "inc-1", ACK_DUE - SECOND)

    assert DeadlineKind.ACK not in fired_kinds(await fire(engine, policy, ACK_DUE))
    assert DeadlineKind.ACK not in fired_kinds(await fire(engine, policy, ACK_DUE + 3 * HOUR))
    ack = await deadline(engine, DeadlineKind.ACK, incident_id="inc-1")
    assert (ack.due_at, ack.state, ack.met_at, ack.met_by) == (
        ACK_DUE,
        DeadlineState.MET,
        ACK_DUE - SECOND,
        OFFICER,
    )
    assert await escalations_of(engine, ack.id) == []
    assert await entries(engine, EntryKind.UNACKNOWLEDGED) == []


async def test_ack_one_second_after_the_deadline_is_unacknowledged_and_stops_further_rounds(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1"))
    assert DeadlineKind.ACK in fired_kinds(await fire(engine, policy, ACK_DUE))  # the sweep at the deadline
    await acknowledge(engine, "inc-1", ACK_DUE + SECOND)

    # The default chain's next round (section chief, +10m) never goes out.
    assert DeadlineKind.ACK not in fired_kinds(await fire(engine, policy, ACK_DUE + 10 * MIN))
    ack = await deadline(engine, DeadlineKind.ACK, incident_id="inc-1")
    assert (ack.state, ack.fire_at, ack.met_at) == (DeadlineState.MET, None, ACK_DUE + SECOND)
    assert [e.round for e in await escalations_of(engine, ack.id)] == [0]
    [entry] = await entries(engine, EntryKind.UNACKNOWLEDGED)
    assert (entry.deadline_id, entry.occurred_at, entry.responsible) == (ack.id, ACK_DUE, "duty_officer")


async def test_ack_one_second_late_is_recorded_even_if_the_sweep_has_not_run_yet(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1"))
    await acknowledge(engine, "inc-1", ACK_DUE + SECOND)  # the firing loop has not reached ACK_DUE yet
    await fire(engine, policy, ACK_DUE + SECOND)

    ack = await deadline(engine, DeadlineKind.ACK, incident_id="inc-1")
    assert [e.kind for e in await entries(engine, deadline_id=ack.id)] == [EntryKind.UNACKNOWLEDGED]


# --- forwarding to the city (上报市委办): level II, phone within 30m, in writing within 1h ---------


async def test_phone_forward_in_time_meets_it_and_a_missing_written_forward_is_overdue(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1"))
    async with engine.connect() as conn:
        opened_at = (await conn.execute(select(incidents.c.opened_at))).scalar_one()
    assert opened_at == RECEIVED

    async with engine.begin() as conn:
        settled = await actions.forward(
            conn, "inc-1", "phone", OFFICER, "已电话报市委办", RECEIVED + 20 * MIN
        )
    assert [(s.kind, s.late_seconds) for s in settled] == [(DeadlineKind.FORWARD_PHONE, None)]
    phone = await deadline(engine, DeadlineKind.FORWARD_PHONE, incident_id="inc-1")
    assert (phone.due_at, phone.state, phone.met_at) == (
        opened_at + 30 * MIN,
        DeadlineState.MET,
        RECEIVED + 20 * MIN,
    )
    assert DeadlineKind.FORWARD_PHONE not in fired_kinds(await fire(engine, policy, opened_at + 30 * MIN))

    written = await deadline(engine, DeadlineKind.FORWARD_WRITTEN, incident_id="inc-1")
    assert written.due_at == opened_at + HOUR
    assert DeadlineKind.FORWARD_WRITTEN not in fired_kinds(
        await fire(engine, policy, opened_at + HOUR - MICRO)
    )
    assert DeadlineKind.FORWARD_WRITTEN in fired_kinds(await fire(engine, policy, opened_at + HOUR))

    [overdue] = await entries(engine, EntryKind.FORWARD_OVERDUE)
    assert (overdue.deadline_id, overdue.occurred_at, overdue.responsible) == (
        written.id,
        opened_at + HOUR,
        "county_office",
    )
    async with engine.connect() as conn:
        [event] = (await conn.execute(select(incident_events))).all()
    assert (event.kind, event.at, event.actor, event.details["mode"]) == (
        EventKind.FORWARDED,
        RECEIVED + 20 * MIN,
        OFFICER,
        "phone",
    )


# --- close (响应结束): follow-ups stop, the final report is due 24h later (level II) ----------------

CLOSED = KNOWN + HOUR  # before follow-up 1 (known + 2h)
FINAL_DUE = CLOSED + 24 * HOUR


async def test_close_cancels_pending_followups_and_arms_the_final_report(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1"))
    assert await close(engine, policy, "inc-1", CLOSED) == FINAL_DUE

    [slot] = (await followups(engine, "inc-1")).values()
    assert (slot.due_at, slot.state, slot.met_by) == (
        KNOWN + 2 * HOUR,
        DeadlineState.CANCELLED,
        "response ended",
    )
    final = await deadline(engine, DeadlineKind.FINAL_REPORT, incident_id="inc-1")
    assert (final.due_at, final.state) == (FINAL_DUE, DeadlineState.PENDING)
    assert DeadlineKind.FOLLOWUP not in fired_kinds(await fire(engine, policy, KNOWN + 2 * HOUR))
    async with engine.connect() as conn:
        incident = (await conn.execute(select(incidents))).one()
        [event] = (await conn.execute(select(incident_events))).all()
    assert (incident.status, incident.closed_at) == ("closed", CLOSED)
    assert (event.kind, event.details) == (EventKind.CLOSED, {"final_report_due": FINAL_DUE.isoformat()})


async def test_no_final_report_within_24h_of_closing_is_missing(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("inc-1"))
    await close(engine, policy, "inc-1", CLOSED)
    final = await deadline(engine, DeadlineKind.FINAL_REPORT, incident_id="inc-1")

    assert DeadlineKind.FINAL_REPORT not in fired_kinds(await fire(engine, policy, FINAL_DUE - MICRO))
    assert DeadlineKind.FINAL_REPORT in fired_kinds(await fire(engine, policy, FINAL_DUE))

    missing = [e for e in await entries(engine, EntryKind.MISSING_REPORT) if e.deadline_id == final.id]
    assert [(e.occurred_at, e.responsible, e.details["deadline"]) for e in missing] == [
        (FINAL_DUE, "城关镇", "final_report")
    ]
    [round0] = await escalations_of(engine, final.id)
    assert round0.roles == ["township_leader", "section_chief"]


async def test_final_report_within_24h_of_closing_meets_it(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("inc-1"))
    await close(engine, policy, "inc-1", CLOSED)
    final_report = report("inc-1", ReportType.FINAL, reported_at=FINAL_DUE - HOUR)
    await store(engine, policy, final_report)

    final = await deadline(engine, DeadlineKind.FINAL_REPORT, incident_id="inc-1")
    assert (final.state, final.met_at, final.met_by) == (
        DeadlineState.MET,
        final_report.reported_at,
        final_report.report_id,
    )
    assert DeadlineKind.FINAL_REPORT not in fired_kinds(await fire(engine, policy, FINAL_DUE))
    assert await entries(engine, deadline_id=final.id) == []


async def test_final_report_sent_before_closing_is_not_missing_afterwards(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc-1"))
    await store(engine, policy, report("inc-1", ReportType.FINAL, reported_at=CLOSED - 10 * MIN))
    await close(engine, policy, "inc-1", CLOSED)
    await fire(engine, policy, FINAL_DUE)

    missing = await entries(engine, EntryKind.MISSING_REPORT)
    assert [e.details["deadline"] for e in missing if e.details["deadline"] == "final_report"] == []


async def test_close_stops_the_escalation_of_an_overdue_followup(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("inc-1"))
    slot = KNOWN + 2 * HOUR
    await fire(engine, policy, slot)  # follow-up 1 missed: round 0; round 1 due at +30m
    await close(engine, policy, "inc-1", slot + 10 * MIN)

    # README: closing means "follow-ups stop".
    assert DeadlineKind.FOLLOWUP not in fired_kinds(await fire(engine, policy, slot + 30 * MIN))


# --- register (登记): the county learned of it elsewhere; the township must report --------------

LEARNED = utc(2026, 3, 2, 2)  # Monday 10:00 local


def registration(incident_id: str) -> Registration:
    return Registration(
        incident_id=incident_id,
        township="梅林镇",
        level=Level.III,
        category="安全生产",
        title="梅林镇某厂房坍塌",
        summary="群众来电反映，乡镇尚未报告。",
        source="hotline",
        occurred_at=None,
        learned_at=LEARNED,
    )


async def register(engine: AsyncEngine, policy: Policy, incident_id: str) -> datetime:
    async with engine.begin() as conn:
        return await actions.register(conn, registration(incident_id), "信息科王五", policy, LEARNED)


async def test_registered_incident_without_a_township_report_is_suspected_concealment(
    engine: AsyncEngine, policy: Policy
) -> None:
    # Level III first report limit: 20m from when the county learned of it.
    assert await register(engine, policy, "reg-1") == LEARNED + 20 * MIN
    check = await deadline(engine, DeadlineKind.CONCEALMENT_CHECK, incident_id="reg-1")

    assert await fire(engine, policy, LEARNED + 20 * MIN - MICRO) == []
    assert fired_kinds(await fire(engine, policy, LEARNED + 20 * MIN)) == [DeadlineKind.CONCEALMENT_CHECK]

    [entry] = await entries(engine, EntryKind.CONCEALMENT_SUSPECTED)
    assert (entry.deadline_id, entry.incident_id, entry.township, entry.responsible) == (
        check.id,
        "reg-1",
        "梅林镇",
        "梅林镇",
    )
    assert entry.occurred_at == LEARNED + 20 * MIN
    [round0] = await escalations_of(engine, check.id)
    assert round0.roles == ["section_chief", "township_leader"]
    assert {"role": "section_chief", "name": "信息科 刘科长"} in round0.recipients
    assert {"role": "township_leader", "name": "梅林镇 党委办 王主任"} in round0.recipients


async def test_township_report_on_a_registered_incident_in_time_arms_the_usual_deadlines(
    engine: AsyncEngine, policy: Policy
) -> None:
    await register(engine, policy, "reg-2")
    # The township says it knew at 09:55 local and reports at 10:10 local (learned + 10m).
    first = report(
        "reg-2",
        township="梅林镇",
        level=Level.III,
        known_at=LEARNED - 5 * MIN,
        reported_at=LEARNED + 10 * MIN,
    )
    await store(engine, policy, first)

    check = await deadline(engine, DeadlineKind.CONCEALMENT_CHECK, incident_id="reg-2")
    assert (check.state, check.met_at, check.met_by) == (
        DeadlineState.MET,
        first.reported_at,
        first.report_id,
    )
    async with engine.connect() as conn:
        armed = {
            row.kind: row.due_at
            for row in await conn.execute(
                select(deadlines).where(
                    deadlines.c.incident_id == "reg-2", deadlines.c.state == DeadlineState.PENDING.value
                )
            )
        }
    # Level III from that report: written 60m from its known_at, ack 10m and written forward 1h from
    # its receipt, follow-up at the next 08:00 local (Tuesday, 2026-03-03T00:00Z); the concealment
    # check stands in for the first-report deadline.
    assert armed == {
        "written_report": first.known_at + 60 * MIN,
        "ack": first.reported_at + 10 * MIN,
        "forward_written": first.reported_at + HOUR,
        "followup": utc(2026, 3, 3, 0),
    }

    assert DeadlineKind.CONCEALMENT_CHECK not in fired_kinds(await fire(engine, policy, LEARNED + 20 * MIN))
    assert await entries(engine, EntryKind.CONCEALMENT_SUSPECTED) == []
    assert await entries(engine, EntryKind.LATE_REPORT) == []


async def test_an_acknowledgement_before_the_township_reports_meets_the_ack_deadline(
    engine: AsyncEngine, policy: Policy
) -> None:
    await register(engine, policy, "reg-3")
    acked_at = LEARNED + 2 * MIN  # the duty officer acknowledges the registration at once
    await acknowledge(engine, "reg-3", acked_at)
    first = report(
        "reg-3", township="梅林镇", level=Level.III, known_at=LEARNED, reported_at=LEARNED + 10 * MIN
    )
    await store(engine, policy, first)

    ack = await deadline(engine, DeadlineKind.ACK, incident_id="reg-3")
    assert (ack.due_at, ack.state, ack.met_at, ack.met_by) == (
        first.reported_at + 10 * MIN,
        DeadlineState.MET,
        acked_at,
        OFFICER,
    )
    assert DeadlineKind.ACK not in fired_kinds(await fire(engine, policy, first.reported_at + 3 * HOUR))
    assert await escalations_of(engine, ack.id) == []
    # The whole log: only the written report and the forward, both missed by then; nothing about the ack.
    assert [(e.kind, e.details["deadline"]) for e in await entries(engine)] == [
        ("missing_report", "written_report"),
        ("forward_overdue", "forward_written"),
    ]


async def test_registering_an_incident_of_a_township_not_in_the_directory_is_refused(
    engine: AsyncEngine, policy: Policy
) -> None:
    unknown = replace(registration("reg-x"), township="不存在镇")
    async with engine.begin() as conn:
        with pytest.raises(UnknownTownship, match="不存在镇") as info:
            await actions.register(conn, unknown, "信息科王五", policy, LEARNED)
    assert "城关镇" in str(info.value)  # the message names the townships the directory knows
    async with engine.connect() as conn:
        assert (await conn.execute(select(incidents.c.id))).all() == []
        assert (await conn.execute(select(deadlines.c.id))).all() == []
    assert await entries(engine) == []
