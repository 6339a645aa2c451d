"""fire_due on one batch mixing every sort of due row: incident and township-duty deadlines, first and
later rounds, rows that settle without sending, and a row another firer moved on in the meantime. Each
deadline gets exactly one escalation per round sent, and the accountability log still verifies."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accountability.verify import verify_chain
from alerting.domain import DeadlineKind, DeadlineState, EntryKind
from alerting.policy.model import Policy
from alerting.storage.schema import accountability_entries, deadlines, escalations, incidents, notifications
from escalation.engine import DueRow, Fired, _fire_rows, fire_due
from tests.storage.factories import T0
from tests.support import firing_for

NOW = T0 + timedelta(hours=2)
MIN = timedelta(minutes=1)
TOWN, DUTY_TOWN = "城关镇", "梅林镇"


def _incident(incident_id: str) -> dict[str, Any]:
    known = NOW - timedelta(hours=3)
    return {
        "id": incident_id,
        "township": TOWN,
        "level": "II",
        "category": "安全生产",
        "title": f"{incident_id} 火情",
        "status": "open",
        "origin": "township",
        "occurred_at": known - 5 * MIN,
        "known_at": known,
        "opened_at": known,
        "updated_at": known,
    }


def _deadline(
    kind: DeadlineKind,
    due_at: datetime,
    *,
    incident_id: str | None = None,
    next_round: int = 0,
    fire_at: datetime | None = None,
    seq: int = 0,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    duty = incident_id is None
    return {
        "incident_id": incident_id,
        "township": DUTY_TOWN if duty else TOWN,
        "kind": kind.value,
        "seq": seq,
        "period": f"p:{kind.value}" if duty else None,
        "due_at": due_at,
        "state": DeadlineState.PENDING.value if next_round == 0 else DeadlineState.ESCALATING.value,
        "fire_at": fire_at or due_at,
        "next_round": next_round,
        "context": context,
        "created_at": T0,
    }


# name -> row; the expectations below refer to these names.
ROWS = {
    "ack": _deadline(DeadlineKind.ACK, NOW - MIN, incident_id="inc-a"),
    # 15 min late: rounds 0 (at 0 m) and 1 (at 10 m) are due, only the later is sent.
    "written": _deadline(DeadlineKind.WRITTEN_REPORT, NOW - 15 * MIN, incident_id="inc-a"),
    # Round 0 went out earlier; round 1 is due now and writes no second entry.
    "first_round1": _deadline(
        DeadlineKind.FIRST_REPORT, NOW - 12 * MIN, incident_id="inc-b", next_round=1, fire_at=NOW - 2 * MIN
    ),
    # One-step chain already sent: settles as exhausted, sends nothing.
    "final_done": _deadline(
        DeadlineKind.FINAL_REPORT, NOW - 5 * MIN, incident_id="inc-b", next_round=1, fire_at=NOW
    ),
    "followup": _deadline(DeadlineKind.FOLLOWUP, NOW - MIN, incident_id="inc-b", seq=1),
    "reminder": _deadline(DeadlineKind.SILENCE_REMINDER, NOW - 3 * MIN, context={"since": T0.isoformat()}),
    "silence": _deadline(DeadlineKind.SILENCE, NOW - 2 * MIN, context={"since": T0.isoformat()}),
    "periodic": _deadline(DeadlineKind.PERIODIC, NOW - MIN, context={"duty": "d", "title": "重点项目进展"}),
    # No reports in the quarter: nothing to flag, the row is cleared unsent.
    "balance": _deadline(DeadlineKind.QUARTER_BALANCE, NOW - MIN, context={"quarter_start": T0.isoformat()}),
    "not_yet": _deadline(
        DeadlineKind.CONCEALMENT_CHECK, NOW + timedelta(microseconds=1), incident_id="inc-a"
    ),
}
# name -> (round sent, entry written) at NOW
SENT = {
    "ack": (0, EntryKind.UNACKNOWLEDGED),
    "written": (1, EntryKind.MISSING_REPORT),
    "first_round1": (1, None),
    "followup": (0, EntryKind.FOLLOWUP_OVERDUE),
    "reminder": (0, None),
    "silence": (0, EntryKind.SILENT_UNIT),
    "periodic": (0, EntryKind.PERIODIC_OVERDUE),
}


async def _seed(engine: AsyncEngine) -> dict[str, int]:
    """The rows above; returns name -> deadline id."""
    ids: dict[str, int] = {}
    async with engine.begin() as conn:
        await conn.execute(incidents.insert(), [_incident("inc-a"), _incident("inc-b")])
        for name, row in ROWS.items():
            ids[name] = (await conn.execute(deadlines.insert().values(**row))).inserted_primary_key[0]
    return ids


async def _fire(engine: AsyncEngine, policy: Policy, now: datetime) -> list[Fired]:
    async with engine.begin() as conn:
        return await fire_due(conn, firing_for(policy), now)


async def _rows(engine: AsyncEngine, table: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(table).order_by(table.c.id))).all())


async def _assert_log_verifies(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        report = await verify_chain(conn)
    assert report.intact and report.entries_checked > 0, report


async def test_mixed_batch_fires_each_deadline_once_per_round(engine: AsyncEngine, policy: Policy) -> None:
    ids = await _seed(engine)
    name_of = {v: k for k, v in ids.items()}

    fired = await _fire(engine, policy, NOW)

    assert {name_of[f.deadline_id]: (f.round, f.entry_kind) for f in fired} == SENT
    due_times = [ROWS[name_of[f.deadline_id]]["fire_at"] for f in fired]
    assert due_times == sorted(due_times), "fired in due order"
    sent = await _rows(engine, escalations)
    assert sorted((name_of[e.deadline_id], e.round) for e in sent) == sorted(
        (name, r) for name, (r, _) in SENT.items()
    )
    assert all(e.fired_at == NOW for e in sent)
    notes = await _rows(engine, notifications)
    assert sorted(n.escalation_id for n in notes) == sorted(e.id for e in sent)
    by_escalation = {e.id: e for e in sent}
    for note in notes:
        escalation = by_escalation[note.escalation_id]
        incident = escalation.incident_id or "duty"
        assert note.idempotency_key == f"{incident}:{escalation.deadline_id}:{escalation.round}"
        assert note.incident_id == escalation.incident_id
    logged = await _rows(engine, accountability_entries)
    expected = {ids[name]: kind.value for name, (_, kind) in SENT.items() if kind is not None}
    assert {e.deadline_id: e.kind for e in logged} == expected
    assert len(logged) == len(expected)

    rows = {name_of[r.id]: r for r in await _rows(engine, deadlines) if r.id in name_of}
    assert (rows["ack"].state, rows["ack"].next_round) == (DeadlineState.ESCALATING, 1)
    assert rows["ack"].fire_at == ROWS["ack"]["due_at"] + timedelta(minutes=10)
    assert (rows["written"].next_round, rows["first_round1"].next_round) == (2, 2)
    assert (rows["final_done"].state, rows["final_done"].fire_at) == (DeadlineState.EXHAUSTED, None)
    assert rows["final_done"].next_round == 1
    assert (rows["balance"].state, rows["balance"].fire_at, rows["balance"].met_at) == (
        DeadlineState.CLEARED,
        None,
        NOW,
    )
    for one_step in ("reminder", "silence", "periodic"):
        assert (rows[one_step].state, rows[one_step].fire_at) == (DeadlineState.EXHAUSTED, None)
    assert (rows["not_yet"].state, rows["not_yet"].next_round) == (DeadlineState.PENDING, 0)
    async with engine.connect() as conn:
        armed = (
            await conn.execute(
                select(deadlines.c.seq).where(
                    deadlines.c.incident_id == "inc-b", deadlines.c.kind == DeadlineKind.FOLLOWUP.value
                )
            )
        ).scalars()
        assert sorted(armed) == [1, 2], "the follow-up cadence goes on"
    await _assert_log_verifies(engine)

    # Nothing fires twice at the same instant; later rounds come one each, and the log still verifies.
    assert await _fire(engine, policy, NOW) == []
    later = await _fire(engine, policy, NOW + timedelta(minutes=15))
    assert {name_of.get(f.deadline_id) for f in later} >= {"ack", "written", "first_round1", "not_yet"}
    assert all(f.entry_kind is None for f in later if name_of.get(f.deadline_id) in SENT)
    pairs = [(e.deadline_id, e.round) for e in await _rows(engine, escalations)]
    assert len(pairs) == len(set(pairs)) == len(fired) + len(later)
    assert max(Counter(d for d, _ in pairs).values()) == 2
    await _assert_log_verifies(engine)


async def test_rows_moved_on_since_read_are_skipped_and_the_rest_fire(
    engine: AsyncEngine, policy: Policy
) -> None:
    """Per-row race safety inside one batch: a stale row beside fresh ones writes nothing."""
    ids = await _seed(engine)
    async with engine.connect() as conn:
        query = select(deadlines).where(deadlines.c.fire_at <= NOW).order_by(deadlines.c.fire_at)
        read = (await conn.execute(query)).all()
    # Another firer sends the ack deadline's first round in between.
    async with engine.begin() as conn:
        [ack] = [r for r in read if r.id == ids["ack"]]
        assert [f.deadline_id for f in await _fire_rows(conn, firing_for(policy), NOW, [DueRow.of(ack)])] == [
            ack.id
        ]

    # Ten minutes on, the ack row is due again (round 1) but no longer as read: only the round differs.
    async with engine.begin() as conn:
        fired = await _fire_rows(conn, firing_for(policy), NOW + 10 * MIN, [DueRow.of(r) for r in read])

    assert ids["ack"] not in {f.deadline_id for f in fired}
    assert len(fired) == len(SENT) - 1
    sent = [e.deadline_id for e in await _rows(engine, escalations)]
    assert sorted(sent) == sorted(ids[name] for name in SENT)
    unacknowledged = [e for e in await _rows(engine, accountability_entries) if e.kind == "unacknowledged"]
    assert len(unacknowledged) == 1
    await _assert_log_verifies(engine)
