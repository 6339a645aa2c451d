"""Fire due deadlines a batch at a time: claim the rows, then in the caller's transaction write the
escalations, their outbox rows, the accountability entries and each deadline's next wake time, with a
fixed number of statements per batch however many rows it holds (thousands can fall due at once)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.append import append_many
from alerting.accountability.chain import NewEntry
from alerting.domain import MISSED_ENTRY_KIND, DeadlineKind, DeadlineState, EntryKind, responsible_for
from alerting.links import AckLinks
from alerting.policy.model import Policy
from alerting.policy.roster import Directory, Recipient
from alerting.storage import bulk
from alerting.storage.schema import deadlines, escalations, incidents, notifications
from escalation import cadence, duties, rules
from escalation.messages import Subject, escalation_payload

_KIND = {kind.value: kind for kind in DeadlineKind}  # a dict look-up: Enum(value) is slow per row


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


# Rows are read into named tuples: a Row's attribute look-up costs ten times a tuple's, and firing
# reads dozens per deadline, ten thousand deadlines in a burst.
class DueRow(NamedTuple):
    """A due deadline as firing reads it."""

    id: int
    incident_id: str | None
    township: str
    kind: str
    seq: int
    period: str | None
    due_at: datetime
    next_round: int
    context: dict[str, Any] | None

    @classmethod
    def of(cls, row: Row[Any]) -> DueRow:
        """From any row of `deadlines` with these columns."""
        return cls._make(getattr(row, name) for name in cls._fields)


class _Incident(NamedTuple):
    """What firing reads of an incident (the follow-up cadence included)."""

    id: str
    township: str
    level: str
    category: str
    title: str
    status: str
    occurred_at: datetime
    known_at: datetime


class _Plan(NamedTuple):
    """What one due row becomes: its claim (the new values of the row) and the round to send, if any."""

    row: DueRow
    claim: dict[str, Any]
    due: rules.Round | None = None
    balance: dict[str, int] | None = None


class _Message(NamedTuple):
    """One row's escalation, its outbox rows (escalation id still to fill in), and the result."""

    escalation: dict[str, Any]
    notes: list[dict[str, Any]]
    fired: Fired


@dataclass(frozen=True, slots=True)
class _Audience:
    """Who one step of a chain reaches in one township, shared by every row of a batch that it
    concerns: the same objects, so their JSON is encoded once (see bulk.insert_rows)."""

    roles: list[str]  # as the step lists them
    recipients: list[Recipient]
    unresolved: list[str]
    names: list[dict[str, str]] = field(init=False)  # what the escalation row keeps: no phones

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", [{"role": r.role, "name": r.name} for r in self.recipients])


# Moves a row on only if nobody else did since it was read. SQLite: the driver's executemany, one
# parameter set per row (SQLAlchemy's own handling of a thousand sets costs more than SQLite's work).
_CLAIM = (
    "UPDATE deadlines SET state = ?, next_round = ?, fire_at = ?, met_at = coalesce(?, met_at) "
    "WHERE id = ? AND next_round = ? AND fire_at IS NOT NULL AND fire_at <= ?"
)


# The same for a whole batch on PostgreSQL: parameters as arrays, the rows it moved returned.
_CLAIM_ARRAYS = text(
    """
    UPDATE deadlines AS d
    SET state = v.new_state, next_round = v.new_round, fire_at = v.new_fire_at,
        met_at = COALESCE(v.new_met_at, d.met_at)
    FROM unnest(CAST(:d_id AS BIGINT[]), CAST(:seen_round AS INTEGER[]), CAST(:new_state AS VARCHAR[]),
                CAST(:new_round AS INTEGER[]), CAST(:new_fire_at AS TIMESTAMPTZ[]),
                CAST(:new_met_at AS TIMESTAMPTZ[]))
         AS v(id, seen_round, new_state, new_round, new_fire_at, new_met_at)
    WHERE d.id = v.id AND d.next_round = v.seen_round AND d.fire_at IS NOT NULL AND d.fire_at <= :now
    RETURNING d.id
    """
)


# What firing reads of a due row (not its timestamps of state: fewer values to convert per row).
_READ = [deadlines.c[name] for name in DueRow._fields]
_READ_INCIDENT = [incidents.c[name] for name in _Incident._fields]


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return deadlines.c.fire_at.is_not(None), deadlines.c.fire_at <= now


async def fire_due(
    conn: AsyncConnection,
    firing: Firing,
    now: datetime,
    limit: int = 500,
    on_full: Callable[[], None] | None = None,
) -> list[Fired]:
    """Fire every deadline due at `now` (up to `limit`), inside the caller's transaction. `on_full` is
    called as soon as the batch read is known to be full: more are due than this call will fire."""
    query = select(*_READ).where(*_due(now)).order_by(deadlines.c.fire_at).limit(limit)
    if conn.dialect.name == "postgresql":
        # Replicas on PostgreSQL each take different rows; SQLite's single writer needs no lock.
        query = query.with_for_update(skip_locked=True)
    rows = [DueRow._make(r) for r in await conn.execute(query)]
    if on_full is not None and len(rows) == limit:
        on_full()
    return await _fire_rows(conn, firing, now, rows)


async def _fire_rows(
    conn: AsyncConnection, firing: Firing, now: datetime, rows: Sequence[DueRow]
) -> list[Fired]:
    """Fire `rows`, read as due; those another firer has moved on since are skipped."""
    plans = [await _plan(conn, firing.policy, now, row) for row in rows]
    sending = [(p, p.due) for p in await _claim(conn, now, plans) if p.due is not None]
    if not sending:
        return []
    ids = {p.row.incident_id for p, _ in sending if p.row.incident_id is not None}
    read = select(*_READ_INCIDENT).where(incidents.c.id.in_(ids))
    by_id = {r[0]: _Incident._make(r) for r in await conn.execute(read)}
    entries: list[NewEntry] = []
    messages: list[_Message] = []
    # Who holds a role is the same for every row of the batch (one `now`): look each up once.
    resolve = functools.cache(
        lambda roles, township: _Audience(list(roles), *firing.directory.resolve(roles, now, township))
    )
    for plan, due in sending:
        row, kind, first = plan.row, _KIND[plan.row.kind], plan.row.next_round == 0
        incident = by_id[row.incident_id] if row.incident_id is not None else None
        entry_kind = MISSED_ENTRY_KIND[kind] if first else None
        if entry_kind is not None:
            entries.append(_entry(entry_kind, row, incident, plan.balance, firing.policy))
        if first and kind is DeadlineKind.FOLLOWUP and incident is not None and incident.status == "open":
            # The cadence goes on whether or not this slot was met; rare enough to arm row by row.
            await cadence.arm_followup_after(conn, incident, row.seq, row.due_at, firing.policy, now)
        messages.append(_message(firing, now, row, due, incident, entry_kind, resolve))
    escalation_ids = await bulk.insert_numbered(conn, escalations, [m.escalation for m in messages])
    await bulk.insert_rows(  # COPY on PostgreSQL
        conn,
        notifications,
        [{**n, "escalation_id": i} for i, m in zip(escalation_ids, messages, strict=True) for n in m.notes],
    )
    # Last: the chain's tail stays locked until commit, and other firers wait for it.
    await append_many(conn, entries, now)
    return [m.fired for m in messages]


async def _plan(conn: AsyncConnection, policy: Policy, now: datetime, row: DueRow) -> _Plan:
    kind = _KIND[row.kind]
    balance: dict[str, int] | None = None
    if kind is DeadlineKind.QUARTER_BALANCE and row.next_round == 0:
        context = row.context or {}
        start = datetime.fromisoformat(context.get("quarter_start", row.due_at.isoformat()))
        balance = await duties.balance_flagged(conn, row.township, start, row.due_at)
        if balance is None:
            return _Plan(row, _claim_params(row, DeadlineState.CLEARED, met_at=now))
    due = rules.next_round(policy.chain_for(kind), row.due_at, row.next_round, now)
    if due is None:  # every round already sent (the policy's chain got shorter)
        return _Plan(row, _claim_params(row, DeadlineState.EXHAUSTED))
    state = DeadlineState.ESCALATING if due.next_fire_at else DeadlineState.EXHAUSTED
    return _Plan(row, _claim_params(row, state, due.number + 1, due.next_fire_at), due, balance)


def _claim_params(
    row: DueRow,
    state: DeadlineState,
    next_round: int | None = None,
    fire_at: datetime | None = None,
    met_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "d_id": row.id,
        "seen_round": row.next_round,
        "new_state": state.value,
        "new_round": row.next_round if next_round is None else next_round,
        "new_fire_at": fire_at,
        "new_met_at": met_at,
    }


async def _claim(conn: AsyncConnection, now: datetime, plans: list[_Plan]) -> list[_Plan]:
    """Claim the rows still as they were read; the others are left to whoever moved them on."""
    if not plans:
        return []
    if conn.dialect.name == "postgresql":
        # One statement for the batch, and it says which rows it moved.
        params: dict[str, Any] = {key: [p.claim[key] for p in plans] for key in plans[0].claim}
        params["now"] = now
        moved = set((await conn.execute(_CLAIM_ARRAYS, params)).scalars())
        return [p for p in plans if p.row.id in moved]
    # executemany gives no per-row counts, so re-read first. SQLite's BEGIN IMMEDIATE holds the write
    # lock: nothing can move these rows between this and the UPDATE.
    query = select(deadlines.c.id, deadlines.c.next_round).where(
        deadlines.c.id.in_([p.row.id for p in plans]), *_due(now)
    )
    current = {r.id: r.next_round for r in await conn.execute(query)}
    held = [p for p in plans if current.get(p.row.id) == p.row.next_round]
    if held:
        at = deadlines.c.fire_at.type.bind_processor(conn.dialect)
        assert at is not None  # UTCDateTime: the text SQLite stores
        stamp = at(now)
        values = [
            (
                c["new_state"],
                c["new_round"],
                at(c["new_fire_at"]),
                at(c["new_met_at"]),
                c["d_id"],
                c["seen_round"],
                stamp,
            )
            for c in (p.claim for p in held)
        ]
        result = await conn.exec_driver_sql(_CLAIM, values)
        if result.rowcount != len(held):
            raise RuntimeError("deadline rows moved while locked")
    return held


def _message(
    firing: Firing,
    now: datetime,
    row: DueRow,
    due: rules.Round,
    incident: _Incident | None,
    entry_kind: EntryKind | None,
    resolve: Callable[[tuple[str, ...], str], _Audience],
) -> _Message:
    kind = _KIND[row.kind]
    # A round sent late stands for the rounds before it: everyone of their steps hears of it, once,
    # on the channels of their own step.
    steps = [firing.policy.chain_for(kind).steps[i] for i in due.covers]
    roles_by_channel: dict[str, tuple[str, ...]] = {}
    for step in steps:
        for channel in step.channels:
            roles_by_channel[channel] = _distinct(roles_by_channel.get(channel, ()) + step.roles)
    audience = resolve(_distinct(tuple(r for step in steps for r in step.roles)), row.township)
    ack_urls: dict[str, str] = {}
    if kind is DeadlineKind.ACK and firing.links is not None and incident is not None:
        ack_urls = {r.name: firing.links.url(incident.id, r.name, r.role, now) for r in audience.recipients}
    # Header-safe (ASCII) and unique per deadline and round.
    key = f"{row.incident_id or 'duty'}:{row.id}:{due.number}"
    payloads: dict[tuple[str, ...], dict[str, Any]] = {}  # one per audience: usually one in all
    for roles in roles_by_channel.values():
        if roles not in payloads:
            reached = resolve(roles, row.township)
            payloads[roles] = escalation_payload(
                subject=_subject(row, incident),
                kind=kind,
                due_at=row.due_at,
                round_number=due.number,
                step=due.step,
                roles=roles,
                recipients=reached.recipients,
                unresolved=reached.unresolved,
                ack_urls=ack_urls,
                idempotency_key=key,
                timezone=firing.policy.timezone,
            )
    escalation = {
        "deadline_id": row.id,
        "incident_id": row.incident_id,
        "township": row.township,
        "round": due.number,
        "step": due.step,
        "roles": audience.roles,
        "recipients": audience.names,
        "fired_at": now,
        "scheduled_for": due.scheduled_for,
    }
    notes = [
        {
            "incident_id": row.incident_id,
            "channel": channel,
            "idempotency_key": key,
            "payload": payloads[roles],
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for channel, roles in roles_by_channel.items()
    ]
    fired = Fired(row.id, row.incident_id, kind, due.number, due.scheduled_for, entry_kind, len(notes))
    return _Message(escalation, notes, fired)


def _distinct(roles: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(roles))


def _subject(row: DueRow, incident: _Incident | None) -> Subject:
    if incident is not None:
        return Subject(
            row.township, incident.id, incident.title, incident.level, incident.category, incident.known_at
        )
    context = row.context or {}
    return Subject(row.township, duty=context.get("title") or context.get("since"))


def _entry(
    kind: EntryKind, row: DueRow, incident: _Incident | None, balance: dict[str, int] | None, policy: Policy
) -> NewEntry:
    deadline = _KIND[row.kind]
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
    occurred_at, judged = duties.finding_time(deadline, row.due_at, row.context, policy)
    if judged is not None:
        details["judged_period"] = judged  # dated at that period's last instant, not when it fell due
    return NewEntry(
        kind=kind,
        township=row.township,
        responsible=responsible_for(deadline, row.township),
        occurred_at=occurred_at,
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
