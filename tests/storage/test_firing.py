"""fire_due against a real database: exact due times, one round per deadline, and claim races."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import actions
from alerting.domain import DeadlineKind, DeadlineState, EntryKind, Level
from alerting.policy.model import Policy
from alerting.storage.schema import accountability_entries, deadlines, escalations, notifications
from consumers.intake import store_report
from escalation.engine import DueRow, Fired, _fire_rows, fire_due, next_fire_at
from tests.storage.factories import T0, make_report
from tests.support import firing_for

REPORTED = T0 + timedelta(minutes=1)


async def _open(engine: AsyncEngine, policy: Policy, incident_id: str = "inc-1") -> None:
    async with engine.begin() as conn:
        await store_report(conn, make_report(incident_id, reported_at=REPORTED), policy, REPORTED)


async def _fire(engine: AsyncEngine, policy: Policy, now: datetime, limit: int = 500) -> list[Fired]:
    async with engine.begin() as conn:
        return await fire_due(conn, firing_for(policy), now, limit)


def _ack_due(policy: Policy) -> datetime:
    return REPORTED + policy.levels[Level.II].ack


async def test_nothing_fires_one_microsecond_early(engine: AsyncEngine, policy: Policy) -> None:
    await _open(engine, policy)
    assert await _fire(engine, policy, _ack_due(policy) - timedelta(microseconds=1)) == []
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(escalations))).scalar_one() == 0
        assert await next_fire_at(conn) == _ack_due(policy)


async def test_ack_deadline_fires_round_zero_exactly_once(engine: AsyncEngine, policy: Policy) -> None:
    await _open(engine, policy)
    due = _ack_due(policy)

    [fired] = await _fire(engine, policy, due)
    assert (fired.kind, fired.round, fired.scheduled_for) == (DeadlineKind.ACK, 0, due)
    assert (fired.entry_kind, fired.notifications) == (EntryKind.UNACKNOWLEDGED, 1)
    assert await _fire(engine, policy, due) == []

    async with engine.connect() as conn:
        [esc] = (await conn.execute(select(escalations))).all()
        [note] = (await conn.execute(select(notifications))).all()
        [entry] = (await conn.execute(select(accountability_entries))).all()
        deadline = (await conn.execute(select(deadlines).where(deadlines.c.id == fired.deadline_id))).one()
        wake = await next_fire_at(conn)
    assert (esc.deadline_id, esc.incident_id, esc.round, esc.step) == (deadline.id, "inc-1", 0, 0)
    assert esc.roles == ["duty_officer", "leader_on_duty"]
    assert (esc.fired_at, esc.scheduled_for) == (due, due)
    assert (note.escalation_id, note.channel, note.state) == (esc.id, "county_webhook", "pending")
    assert note.idempotency_key == f"inc-1:{deadline.id}:0"
    assert note.next_attempt_at == due
    assert (entry.kind, entry.responsible, entry.deadline_id) == (
        "unacknowledged",
        "duty_officer",
        deadline.id,
    )
    assert entry.occurred_at == due
    assert (deadline.kind, deadline.state, deadline.next_round) == ("ack", DeadlineState.ESCALATING, 1)
    assert deadline.fire_at == wake == due + timedelta(minutes=10)


async def test_stale_claim_writes_nothing(engine: AsyncEngine, policy: Policy) -> None:
    """The conditional UPDATE: a firer holding an outdated view of the row must not fire it again."""
    await _open(engine, policy)
    due = _ack_due(policy)
    async with engine.connect() as conn:
        ack_row = select(deadlines).where(deadlines.c.kind == DeadlineKind.ACK.value)
        stale = (await conn.execute(ack_row)).one()
    await _fire(engine, policy, due)
    async with engine.begin() as conn:
        again = await _fire_rows(conn, firing_for(policy), due, [DueRow.of(stale)])
    assert again == []
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(escalations))).scalar_one() == 1
        assert (await conn.execute(select(func.count()).select_from(notifications))).scalar_one() == 1
        assert (
            await conn.execute(select(func.count()).select_from(accountability_entries))
        ).scalar_one() == 1


async def test_acknowledged_incident_never_fires_its_ack_deadline(
    engine: AsyncEngine, policy: Policy
) -> None:
    await _open(engine, policy)
    async with engine.begin() as conn:
        ack = await actions.acknowledge(conn, "inc-1", "值班员李四", REPORTED + timedelta(minutes=2))
    assert not ack.already

    late = T0 + policy.levels[Level.II].written_report + timedelta(days=1)
    fired = await _fire(engine, policy, late)
    kinds = [f.kind for f in fired]
    assert DeadlineKind.WRITTEN_REPORT in kinds and DeadlineKind.ACK not in kinds
    async with engine.connect() as conn:
        row = (await conn.execute(select(deadlines).where(deadlines.c.kind == DeadlineKind.ACK.value))).one()
        kinds = (await conn.execute(select(accountability_entries.c.kind))).scalars().all()
    assert (row.state, row.fire_at, row.met_by) == (DeadlineState.MET, None, "值班员李四")
    assert EntryKind.UNACKNOWLEDGED.value not in kinds


async def _open_many(engine: AsyncEngine, policy: Policy, count: int) -> None:
    async with engine.begin() as conn:
        for n in range(count):
            await store_report(conn, make_report(f"inc-{n:02d}", reported_at=REPORTED), policy, REPORTED)


async def _assert_fired_once_each(engine: AsyncEngine, count: int) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(escalations.c.deadline_id, escalations.c.round))).all()
        note_count = (await conn.execute(select(func.count()).select_from(notifications))).scalar_one()
        hashes = (await conn.execute(select(accountability_entries.c.prev_hash))).scalars().all()
    assert len(rows) == count
    assert {r.round for r in rows} == {0}
    assert len({r.deadline_id for r in rows}) == count
    assert note_count == count
    assert len(hashes) == len(set(hashes)) == count  # one unacknowledged entry each, chain not forked


async def test_concurrent_fire_due_fires_each_deadline_once(engine: AsyncEngine, policy: Policy) -> None:
    await _open_many(engine, policy, 50)
    due = _ack_due(policy)  # every ack deadline is due, nothing else is

    first, second = await asyncio.gather(_fire(engine, policy, due), _fire(engine, policy, due))

    assert len(first) + len(second) == 50
    assert {f.incident_id for f in first}.isdisjoint({f.incident_id for f in second})
    await _assert_fired_once_each(engine, 50)


async def test_workers_taking_small_batches_fire_each_deadline_once(
    engine: AsyncEngine, policy: Policy
) -> None:
    await _open_many(engine, policy, 50)
    due = _ack_due(policy)

    async def worker() -> list[Fired]:
        done: list[Fired] = []
        while batch := await _fire(engine, policy, due, limit=7):
            done.extend(batch)
        return done

    results = await asyncio.gather(*(worker() for _ in range(4)))

    fired = [f.deadline_id for r in results for f in r]
    assert len(fired) == len(set(fired)) == 50
    async with engine.connect() as conn:
        assert await next_fire_at(conn) == due + timedelta(minutes=10)
    await _assert_fired_once_each(engine, 50)
