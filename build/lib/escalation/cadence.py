"""An incident's reporting clocks after it opened: the follow-up cadence and level changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting import events
from alerting.domain import DeadlineKind, DeadlineState, Level
from alerting.events import EventKind
from alerting.policy.model import LevelRules, Policy
from alerting.storage.schema import deadlines, incident_events, incidents
from escalation import arming, rules

# Deadlines whose time depends on the level; the first report and the county's check are settled.
REDERIVED = (
    DeadlineKind.WRITTEN_REPORT,
    DeadlineKind.ACK,
    DeadlineKind.FOLLOWUP,
    DeadlineKind.FINAL_REPORT,
    DeadlineKind.FORWARD_PHONE,
    DeadlineKind.FORWARD_WRITTEN,
)


class IncidentFacts(Protocol):
    """What the cadence reads of an incident: a row of `incidents`, or a tuple with these names."""

    @property
    def id(self) -> str: ...
    @property
    def township(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def known_at(self) -> datetime: ...


async def cadence_start(conn: AsyncConnection, incident: IncidentFacts, level_rules: LevelRules) -> datetime:
    """Follow-ups count from the clock start, or from the latest level change."""
    changed: datetime | None = (
        await conn.execute(
            select(incident_events.c.at)
            .where(
                incident_events.c.incident_id == incident.id,
                incident_events.c.kind == EventKind.LEVEL_CHANGED.value,
            )
            .order_by(incident_events.c.at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return changed or rules.clock_start(incident.occurred_at, incident.known_at, level_rules)


async def arm_followup_after(
    conn: AsyncConnection, incident: IncidentFacts, seq: int, after: datetime, policy: Policy, now: datetime
) -> datetime | None:
    """Arm follow-up number seq+1 at the first slot after `after` (no-op if it exists)."""
    level_rules = policy.rules_for(Level(incident.level), incident.category)
    start = await cadence_start(conn, incident, level_rules)
    due = rules.next_followup(level_rules.followup, start, after, policy.tz)
    if due is None:
        return None
    new = [rules.NewDeadline(DeadlineKind.FOLLOWUP, due, seq=seq + 1)]
    return await arming.arm_incident(conn, incident.id, incident.township, new, now)


@dataclass(frozen=True, slots=True)
class LevelChange:
    changed: bool  # False: a township reported a lighter level, and nothing changed
    earliest: datetime | None  # the earliest deadline moved or added, for the wake-up
    deadlines: list[dict[str, Any]]  # {"kind", "from", "to"} for every deadline moved, dropped or added


async def change_level(
    conn: AsyncConnection,
    incident: Row[Any],
    level: Level,
    changed_at: datetime,
    actor: str,
    policy: Policy,
    now: datetime,
    *,
    reason: str | None = None,
    lower: bool = False,
) -> LevelChange:
    """The incident's level becomes `level` at `changed_at`.

    A graver level brings the pending level-dependent clocks forward, never later. A lighter one is
    taken only with `lower` (the county re-grading, with a reason): it relaxes those clocks. A lighter
    level in a township's report changes nothing, and the timeline says so.
    """
    before = Level(incident.level)
    graver = level.graver_than(before)
    if not graver and not lower:
        await events.record(
            conn,
            incident.id,
            EventKind.LEVEL_NOT_LOWERED,
            changed_at,
            actor,
            {"level": before.value, "reported": level.value},
        )
        return LevelChange(False, None, [])
    new_rules = policy.rules_for(level, incident.category)
    await conn.execute(
        incidents.update().where(incidents.c.id == incident.id).values(level=level.value, updated_at=now)
    )
    rows = (
        await conn.execute(
            select(deadlines.c.id, deadlines.c.kind, deadlines.c.due_at, deadlines.c.state).where(
                deadlines.c.incident_id == incident.id
            )
        )
    ).all()
    # Deadlines already missed or met stay as they were: what happened, happened.
    pending = [
        r for r in rows if r.kind in {k.value for k in REDERIVED} and r.state == DeadlineState.PENDING.value
    ]
    changes: list[dict[str, Any]] = []
    earliest: list[datetime] = []
    for row in pending:
        kind = DeadlineKind(row.kind)
        due = rules.regraded_due(kind, row.due_at, new_rules, changed_at, policy.tz, graver=graver)
        if due == row.due_at:
            continue
        if due is None:
            await arming.cancel(conn, where=[deadlines.c.id == row.id], reason=f"level {level.value}")
        else:
            await conn.execute(
                deadlines.update()
                .where(deadlines.c.id == row.id)
                .values(due_at=due, fire_at=due, next_round=0)
            )
            earliest.append(due)
        changes.append(
            {"kind": row.kind, "from": row.due_at.isoformat(), "to": due.isoformat() if due else None}
        )
    kinds_present = {r.kind for r in rows}
    added = [
        d
        for d in rules.county_deadlines(new_rules, changed_at)
        if d.kind is not DeadlineKind.ACK and d.kind.value not in kinds_present
    ]
    if added:
        earliest.append(
            await arming.arm_incident(conn, incident.id, incident.township, added, now) or changed_at
        )
        changes += [{"kind": d.kind.value, "from": None, "to": d.due_at.isoformat()} for d in added]
    details: dict[str, Any] = {"from": before.value, "to": level.value, "deadlines": changes}
    if reason is not None:
        details["reason"] = reason
    await events.record(conn, incident.id, EventKind.LEVEL_CHANGED, changed_at, actor, details)
    return LevelChange(True, min(earliest, default=None), changes)
