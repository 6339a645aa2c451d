"""Fire due deadlines: claim the row, then in one transaction write the escalation, its outbox rows,
the accountability entry and the deadline's next wake time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting import accountability
from alerting.accountability import NewEntry
from alerting.domain import MISSED_ENTRY_KIND, DeadlineKind, DeadlineState, EntryKind, responsible_for
from alerting.links import AckLinks
from alerting.policy import Policy
from alerting.roster import Directory
from alerting.storage.schema import deadlines, escalations, incidents, notifications
from escalation import cadence, duties, rules
from escalation.messages import Subject, escalation_payload


@dataclass(frozen=True, slots=True)
class Firing:
    """What firing needs besides the database: the rules, who is who, and how to sign ack links."""

    policy: Policy
    directory: Directory
    links: AckLinks | None = None


@dataclass(frozen=True, slots=True)
class Fired:
    deadline_id: int
    incident_id: str | None
    kind: DeadlineKind
    round: int
    scheduled_for: datetime
    entry_kind: EntryKind | None  # written on the first round only
    notifications: int


async def fire_due(conn: AsyncConnection, firing: Firing, now: datetime, limit: int = 500) -> list[Fired]:
    """Fire every deadline due at `now` (up to `limit`), inside the caller's transaction."""
    query = (
        select(deadlines)
        .where(deadlines.c.fire_at.is_not(None), deadlines.c.fire_at <= now)
        .order_by(deadlines.c.fire_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        # Replicas on PostgreSQL each take different rows; SQLite's single writer needs no lock.
        query = query.with_for_update(skip_locked=True)
    fired: list[Fired] = []
    for row in (await conn.execute(query)).all():
        result = await _fire_one(conn, firing, now, row)
        if result is not None:
            fired.append(result)
    return fired


async def _claim(conn: AsyncConnection, row: Row[Any], now: datetime, values: dict[str, Any]) -> bool:
    """Move the row on only if nobody else did since we read it."""
    result = await conn.execute(
        deadlines.update()
        .where(
            deadlines.c.id == row.id,
            deadlines.c.next_round == row.next_round,
            deadlines.c.fire_at.is_not(None),
            deadlines.c.fire_at <= now,
        )
        .values(**values)
    )
    return result.rowcount == 1


async def _fire_one(conn: AsyncConnection, firing: Firing, now: datetime, row: Row[Any]) -> Fired | None:
    policy = firing.policy
    kind = DeadlineKind(row.kind)
    first = row.next_round == 0
    balance: dict[str, int] | None = None
    if kind is DeadlineKind.QUARTER_BALANCE and first:
        context = row.context or {}
        start = datetime.fromisoformat(context.get("quarter_start", row.due_at.isoformat()))
        balance = await duties.balance_flagged(conn, row.township, start, row.due_at)
        if balance is None:
            await _claim(
                conn, row, now, {"state": DeadlineState.CLEARED.value, "fire_at": None, "met_at": now}
            )
            return None

    chain = policy.chain_for(kind)
    due_round = rules.next_round(chain, row.due_at, row.next_round, now)
    if due_round is None:  # every round already sent (the policy's chain got shorter)
        await _claim(conn, row, now, {"state": DeadlineState.EXHAUSTED.value, "fire_at": None})
        return None
    claimed = await _claim(
        conn,
        row,
        now,
        {
            "state": (DeadlineState.ESCALATING if due_round.next_fire_at else DeadlineState.EXHAUSTED).value,
            "next_round": due_round.number + 1,
            "fire_at": due_round.next_fire_at,
        },
    )
    if not claimed:
        return None

    incident = None
    if row.incident_id is not None:
        incident = (await conn.execute(select(incidents).where(incidents.c.id == row.incident_id))).one()
    entry_kind = MISSED_ENTRY_KIND[kind] if first else None
    if entry_kind is not None:
        await accountability.append(conn, _entry(entry_kind, row, incident, balance), now)
    if first and kind is DeadlineKind.FOLLOWUP and incident is not None and incident.status == "open":
        # The cadence goes on whether or not this slot was met.
        await cadence.arm_followup_after(conn, incident, row.seq, row.due_at, policy, now)

    step = chain.steps[due_round.step]
    recipients, unresolved = firing.directory.resolve(step.roles, now, row.township)
    ack_urls: dict[str, str] = {}
    if kind is DeadlineKind.ACK and firing.links is not None and incident is not None:
        ack_urls = {r.name: firing.links.url(incident.id, r.name, r.role, now) for r in recipients}
    # Header-safe (ASCII) and unique per deadline and round.
    key = f"{row.incident_id or 'duty'}:{row.id}:{due_round.number}"
    payload = escalation_payload(
        subject=_subject(row, incident),
        kind=kind,
        due_at=row.due_at,
        round_number=due_round.number,
        step=due_round.step,
        roles=step.roles,
        recipients=recipients,
        unresolved=unresolved,
        ack_urls=ack_urls,
        idempotency_key=key,
        timezone=policy.timezone,
    )
    escalation_id = (
        await conn.execute(
            escalations.insert().values(
                deadline_id=row.id,
                incident_id=row.incident_id,
                township=row.township,
                round=due_round.number,
                step=due_round.step,
                roles=list(step.roles),
                recipients=[{"role": r.role, "name": r.name} for r in recipients],
                fired_at=now,
                scheduled_for=due_round.scheduled_for,
            )
        )
    ).inserted_primary_key
    assert escalation_id is not None
    await conn.execute(
        notifications.insert(),
        [
            {
                "escalation_id": escalation_id[0],
                "incident_id": row.incident_id,
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
    return Fired(
        row.id,
        row.incident_id,
        kind,
        due_round.number,
        due_round.scheduled_for,
        entry_kind,
        len(step.channels),
    )


def _subject(row: Row[Any], incident: Row[Any] | None) -> Subject:
    if incident is not None:
        return Subject(
            row.township, incident.id, incident.title, incident.level, incident.category, incident.known_at
        )
    context = row.context or {}
    return Subject(row.township, duty=context.get("title") or context.get("since"))


def _entry(
    kind: EntryKind, row: Row[Any], incident: Row[Any] | None, balance: dict[str, int] | None
) -> NewEntry:
    deadline = DeadlineKind(row.kind)
    details: dict[str, Any] = {"deadline": deadline.value, "due_at": row.due_at.isoformat()}
    if incident is not None:
        details["level"] = incident.level
        details["category"] = incident.category
    if deadline is DeadlineKind.FOLLOWUP:
        details["followup_number"] = row.seq
    if row.period:
        details["period"] = row.period
    if row.context:
        details["context"] = row.context
    if balance:
        details.update(balance)
    return NewEntry(
        kind=kind,
        township=row.township,
        responsible=responsible_for(deadline, row.township),
        occurred_at=row.due_at,
        incident_id=row.incident_id,
        deadline_id=row.id,
        details=details,
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
