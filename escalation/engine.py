"""Fire due deadlines: claim the row, then in one transaction write the escalation, its outbox rows,
the accountability entry and the deadline's next wake time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting import accountability
from alerting.accountability import NewEntry
from alerting.domain import MISSED_ENTRY_KIND, DeadlineKind, DeadlineState, EntryKind
from alerting.policy import Policy
from alerting.storage.schema import deadlines, escalations, incidents, notifications
from escalation import rules
from escalation.messages import escalation_payload


@dataclass(frozen=True, slots=True)
class Fired:
    deadline_id: int
    incident_id: str
    kind: DeadlineKind
    round: int
    scheduled_for: datetime
    entry_kind: EntryKind | None  # written on the first round only
    notifications: int


def _due(now: datetime, limit: int, for_update: bool) -> Select[tuple[int, str, str, datetime, int]]:
    query = (
        select(
            deadlines.c.id,
            deadlines.c.incident_id,
            deadlines.c.kind,
            deadlines.c.due_at,
            deadlines.c.next_round,
        )
        .where(deadlines.c.fire_at.is_not(None), deadlines.c.fire_at <= now)
        .order_by(deadlines.c.fire_at)
        .limit(limit)
    )
    # Replicas on PostgreSQL each take different rows; SQLite's single writer needs no lock.
    return query.with_for_update(skip_locked=True) if for_update else query


async def fire_due(conn: AsyncConnection, policy: Policy, now: datetime, limit: int = 500) -> list[Fired]:
    """Fire every deadline due at `now` (up to `limit`), inside the caller's transaction."""
    rows = (await conn.execute(_due(now, limit, conn.dialect.name == "postgresql"))).all()
    fired: list[Fired] = []
    for row in rows:
        result = await _fire_one(
            conn, policy, now, row.id, row.incident_id, DeadlineKind(row.kind), row.due_at, row.next_round
        )
        if result is not None:
            fired.append(result)
    return fired


async def _fire_one(
    conn: AsyncConnection,
    policy: Policy,
    now: datetime,
    deadline_id: int,
    incident_id: str,
    kind: DeadlineKind,
    due_at: datetime,
    next_round: int,
) -> Fired | None:
    chain = policy.chain_for(kind)
    due_round = rules.next_round(chain, due_at, next_round, now)
    # The claim: only the holder of this exact (row, round) state moves it on.
    claim = await conn.execute(
        deadlines.update()
        .where(
            deadlines.c.id == deadline_id,
            deadlines.c.next_round == next_round,
            deadlines.c.fire_at.is_not(None),
            deadlines.c.fire_at <= now,
        )
        .values(
            state=DeadlineState.ESCALATING.value
            if due_round and due_round.next_fire_at
            else DeadlineState.EXHAUSTED.value,
            next_round=due_round.number + 1 if due_round else next_round,
            fire_at=due_round.next_fire_at if due_round else None,
        )
    )
    if claim.rowcount != 1 or due_round is None:
        return None

    incident = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).one()
    step = chain.steps[due_round.step]
    escalation_id = (
        await conn.execute(
            escalations.insert().values(
                deadline_id=deadline_id,
                incident_id=incident_id,
                round=due_round.number,
                step=due_round.step,
                roles=list(step.roles),
                fired_at=now,
                scheduled_for=due_round.scheduled_for,
            )
        )
    ).inserted_primary_key
    assert escalation_id is not None
    key = f"{incident_id}:{deadline_id}:{due_round.number}"
    payload = escalation_payload(
        incident=incident,
        kind=kind,
        due_at=due_at,
        round_number=due_round.number,
        step=due_round.step,
        roles=step.roles,
        idempotency_key=key,
        timezone=policy.timezone,
    )
    await conn.execute(
        notifications.insert(),
        [
            {
                "escalation_id": escalation_id[0],
                "incident_id": incident_id,
                "channel": channel,
                "idempotency_key": key,
                "payload": payload,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for channel in step.channels
        ],
    )
    entry_kind = None
    if next_round == 0:
        entry_kind = MISSED_ENTRY_KIND[kind]
        await accountability.append(
            conn,
            NewEntry(
                kind=entry_kind,
                township=incident.township,
                responsible="duty_officer" if kind is DeadlineKind.ACK else incident.township,
                occurred_at=due_at,
                incident_id=incident_id,
                deadline_id=deadline_id,
                details={"deadline": kind.value, "due_at": due_at.isoformat(), "level": incident.level},
            ),
            now,
        )
    return Fired(
        deadline_id,
        incident_id,
        kind,
        due_round.number,
        due_round.scheduled_for,
        entry_kind,
        len(step.channels),
    )


async def next_fire_at(conn: AsyncConnection) -> datetime | None:
    """The earliest moment any deadline needs attention: the whole in-memory timer state."""
    return (
        await conn.execute(
            select(deadlines.c.fire_at)
            .where(deadlines.c.fire_at.is_not(None))
            .order_by(deadlines.c.fire_at)
            .limit(1)
        )
    ).scalar_one_or_none()
