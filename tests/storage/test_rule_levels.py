"""Level changes never postpone what anyone owes: a graver level brings clocks forward, a lighter one in
a township's report changes nothing, and only the county re-grades downward (with a reason).

Times are UTC; the policy's zone is Asia/Shanghai. Limits from deploy/policy.example.toml:
II written 40m, ack 5m, forward phone 30m / written 1h, follow-ups every 2h for 12h;
III written 60m, ack 10m, forward written 1h, follow-ups daily 08:00; IV written 2h, ack 30m,
forward written 2h, follow-ups daily 08:00.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import actions
from alerting.county.timeline import timeline
from alerting.domain import DeadlineKind, DeadlineState, Level, ReportType
from alerting.errors import ConflictError
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines, incident_events, incidents
from tests.storage.test_rule_reports import (
    KNOWN,
    MIN,
    RECEIVED,
    _chain_verifies,  # noqa: F401  (autouse: the chain verifies after each test)
    entries,
    report,
    store,
    utc,
)

WRITTEN, ACK, FOLLOWUP = DeadlineKind.WRITTEN_REPORT, DeadlineKind.ACK, DeadlineKind.FOLLOWUP
PHONE, FORWARD = DeadlineKind.FORWARD_PHONE, DeadlineKind.FORWARD_WRITTEN
TUESDAY_0800 = utc(2026, 3, 3, 0)  # 08:00 local
WEDNESDAY_0800 = utc(2026, 3, 4, 0)
THURSDAY_0800 = utc(2026, 3, 5, 0)


async def pending(engine: AsyncEngine, incident_id: str) -> dict[tuple[str, int], datetime]:
    """(kind, seq) -> due_at of the incident's pending deadlines."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(deadlines.c.kind, deadlines.c.seq, deadlines.c.due_at).where(
                deadlines.c.incident_id == incident_id, deadlines.c.state == DeadlineState.PENDING.value
            )
        )
        return {(r.kind, r.seq): r.due_at for r in rows}


async def level_of(engine: AsyncEngine, incident_id: str) -> str:
    async with engine.connect() as conn:
        return str(
            (await conn.execute(select(incidents.c.level).where(incidents.c.id == incident_id))).scalar_one()
        )


async def level_events(
    engine: AsyncEngine, incident_id: str
) -> list[tuple[str, datetime, str, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(incident_events)
            .where(incident_events.c.incident_id == incident_id, incident_events.c.kind.like("level%"))
            .order_by(incident_events.c.id)
        )
        return [(r.kind, r.at, r.actor, r.details) for r in rows]


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


async def late_entries(engine: AsyncEngine) -> list[tuple[str, str, str, int]]:
    """Every entry written, as (kind, deadline, report, delay): the whole log, not a filtered part."""
    return [(e.kind, e.details.get("deadline"), e.report_id, e.delay_seconds) for e in await entries(engine)]


def followup(at: datetime, level: Level) -> Any:
    return report("inc", ReportType.FOLLOWUP, level=level, reported_at=at)


async def test_an_upgrade_never_pushes_a_clock_later(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("inc", level=Level.III))
    change = KNOWN + 50 * MIN  # 10 minutes before the written report is due
    await store(engine, policy, followup(change, Level.II))

    # II's limits from the change would be later than III's from the start: the earlier time stands.
    assert await level_of(engine, "inc") == "II"
    assert await pending(engine, "inc") == {
        (WRITTEN, 0): KNOWN + 60 * MIN,
        (ACK, 0): RECEIVED + 10 * MIN,
        (FORWARD, 0): RECEIVED + 60 * MIN,
        (FOLLOWUP, 2): change + 120 * MIN,  # II's cadence from the change, before Wednesday 08:00
        (PHONE, 0): change + 30 * MIN,  # II requires a phone forward; III did not
    }
    [(kind, at, actor, details)] = await level_events(engine, "inc")
    assert (kind, at, actor) == ("level_changed", change, f"report inc-followup-{change:%m%dT%H%M%S}")
    assert details == {
        "from": "III",
        "to": "II",
        "deadlines": [
            {"kind": "followup", "from": iso(WEDNESDAY_0800), "to": iso(change + 120 * MIN)},
            {"kind": "forward_phone", "from": None, "to": iso(change + 30 * MIN)},
        ],
    }

    written = report("inc", ReportType.WRITTEN, reported_at=KNOWN + 70 * MIN)
    await store(engine, policy, written)
    assert await late_entries(engine) == [("late_report", "written_report", written.report_id, 600)]


async def test_a_lighter_level_in_a_report_changes_nothing(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("inc", level=Level.II))
    change = KNOWN + 10 * MIN
    await store(engine, policy, followup(change, Level.IV))

    assert await level_of(engine, "inc") == "II"
    assert await pending(engine, "inc") == {
        (WRITTEN, 0): KNOWN + 40 * MIN,
        (ACK, 0): RECEIVED + 5 * MIN,
        (PHONE, 0): RECEIVED + 30 * MIN,
        (FORWARD, 0): RECEIVED + 60 * MIN,
        (FOLLOWUP, 2): KNOWN + 4 * 60 * MIN,  # slot 1 met by the follow-up; II's cadence goes on
    }
    assert await level_events(engine, "inc") == [
        (
            "level_not_lowered",
            change,
            f"report inc-followup-{change:%m%dT%H%M%S}",
            {"level": "II", "reported": "IV"},
        )
    ]

    written = report("inc", ReportType.WRITTEN, reported_at=KNOWN + 45 * MIN)
    await store(engine, policy, written)
    assert await late_entries(engine) == [("late_report", "written_report", written.report_id, 300)]


async def test_levels_alternating_across_follow_ups(engine: AsyncEngine, policy: Policy) -> None:
    await store(engine, policy, report("inc", level=Level.III))
    t1, t2, t3, t4 = (KNOWN + n * MIN for n in (5, 10, 15, 20))

    await store(engine, policy, followup(t1, Level.IV))  # lighter: nothing changes
    assert await level_of(engine, "inc") == "III"
    assert await pending(engine, "inc") == {
        (WRITTEN, 0): KNOWN + 60 * MIN,
        (ACK, 0): RECEIVED + 10 * MIN,
        (FORWARD, 0): RECEIVED + 60 * MIN,
        (FOLLOWUP, 2): WEDNESDAY_0800,
    }

    await store(engine, policy, followup(t2, Level.II))  # graver: the written report comes forward
    assert await level_of(engine, "inc") == "II"
    assert await pending(engine, "inc") == {
        (WRITTEN, 0): t2 + 40 * MIN,
        (ACK, 0): RECEIVED + 10 * MIN,
        (FORWARD, 0): RECEIVED + 60 * MIN,
        (PHONE, 0): t2 + 30 * MIN,
        (FOLLOWUP, 3): t2 + 120 * MIN,  # slot 2 met; slot 3 was Thursday 08:00
    }

    await store(engine, policy, followup(t3, Level.III))  # lighter again: nothing changes
    assert await level_of(engine, "inc") == "II"
    assert await pending(engine, "inc") == {
        (WRITTEN, 0): t2 + 40 * MIN,
        (ACK, 0): RECEIVED + 10 * MIN,
        (FORWARD, 0): RECEIVED + 60 * MIN,
        (PHONE, 0): t2 + 30 * MIN,
        (FOLLOWUP, 4): t2 + 240 * MIN,  # II's cadence, counted from t2
    }

    await store(engine, policy, followup(t4, Level.I))  # graver: only what I's limits bring forward
    assert await level_of(engine, "inc") == "I"
    assert await pending(engine, "inc") == {
        (WRITTEN, 0): t2 + 40 * MIN,
        (ACK, 0): RECEIVED + 10 * MIN,
        (FORWARD, 0): RECEIVED + 60 * MIN,
        (PHONE, 0): t2 + 30 * MIN,
        (FOLLOWUP, 5): t4 + 120 * MIN,  # was t2 + 6h
    }
    assert [
        (kind, at, details.get("to", details.get("reported")))
        for kind, at, _, details in await level_events(engine, "inc")
    ] == [
        ("level_not_lowered", t1, "IV"),
        ("level_changed", t2, "II"),
        ("level_not_lowered", t3, "III"),
        ("level_changed", t4, "I"),
    ]
    assert (await level_events(engine, "inc"))[3][3]["deadlines"] == [
        {"kind": "followup", "from": iso(t2 + 360 * MIN), "to": iso(t4 + 120 * MIN)}
    ]

    written = report("inc", ReportType.WRITTEN, level=Level.I, reported_at=KNOWN + 55 * MIN)
    await store(engine, policy, written)
    assert await late_entries(engine) == [("late_report", "written_report", written.report_id, 300)]


async def test_the_county_re_grades_with_a_reason_and_a_lighter_level_relaxes(
    engine: AsyncEngine, policy: Policy
) -> None:
    await store(engine, policy, report("inc", level=Level.III))
    down = KNOWN + 30 * MIN
    reason = "经核实无人员伤亡，属一般事件"
    async with engine.begin() as conn:
        change = await actions.regrade(conn, "inc", Level.IV, reason, "信息科李四", policy, down)
    relaxed = [
        {"kind": "ack", "from": iso(RECEIVED + 10 * MIN), "to": iso(down + 30 * MIN)},
        {"kind": "forward_written", "from": iso(RECEIVED + 60 * MIN), "to": iso(down + 120 * MIN)},
        {"kind": "written_report", "from": iso(KNOWN + 60 * MIN), "to": iso(down + 120 * MIN)},
    ]
    assert (change.changed, change.earliest) == (True, down + 30 * MIN)
    assert sorted(change.deadlines, key=lambda c: c["kind"]) == relaxed
    assert await pending(engine, "inc") == {
        (ACK, 0): down + 30 * MIN,
        (WRITTEN, 0): down + 120 * MIN,
        (FORWARD, 0): down + 120 * MIN,
        (FOLLOWUP, 1): TUESDAY_0800,  # IV's next 08:00 is the same as III's
    }
    [(kind, at, actor, details)] = await level_events(engine, "inc")
    assert (kind, at, actor) == ("level_changed", down, "信息科李四")
    assert details["reason"] == reason and (details["from"], details["to"]) == ("III", "IV")
    text = timeline(
        {"reports": [], "deadlines": [], "escalations": [], "entries": []},
        [{"at": at, "kind": kind, "actor": actor, "details": details}],
        policy.tz,
    )[0]["text"]
    assert text == f"信息科李四 将事件等级由 III 调整为 IV（理由：{reason}），相关时限按新等级放宽"

    async with engine.begin() as conn:
        with pytest.raises(ConflictError):
            await actions.regrade(conn, "inc", Level.IV, "再次调整", "信息科李四", policy, down + MIN)

    up = KNOWN + 40 * MIN  # the county re-grades upward: clocks come forward, never later
    async with engine.begin() as conn:
        await actions.regrade(conn, "inc", Level.II, "出现人员受伤", "值班员王五", policy, up)
    assert await pending(engine, "inc") == {
        (ACK, 0): up + 5 * MIN,
        (WRITTEN, 0): up + 40 * MIN,
        (FORWARD, 0): up + 60 * MIN,
        (PHONE, 0): up + 30 * MIN,
        (FOLLOWUP, 1): up + 120 * MIN,
    }
    assert await late_entries(engine) == []
