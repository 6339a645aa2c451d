"""Pure deadline rules: functions of (report or deadline, policy, now), no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerting.domain import MET_BY_REPORT, DeadlineKind, Report
from alerting.policy import Chain, LevelRules


@dataclass(frozen=True, slots=True)
class NewDeadline:
    kind: DeadlineKind
    due_at: datetime


def clock_start(report: Report, rules: LevelRules) -> datetime:
    return report.occurred_at if rules.clock_starts == "occurred_at" else report.known_at


def initial_deadlines(report: Report, rules: LevelRules) -> list[NewDeadline]:
    """Deadlines an incident gets when the county first hears of it through `report`."""
    start = clock_start(report, rules)
    return [
        NewDeadline(DeadlineKind.FIRST_REPORT, start + rules.first_report),
        NewDeadline(DeadlineKind.WRITTEN_REPORT, start + rules.written_report),
        NewDeadline(DeadlineKind.ACK, report.reported_at + rules.ack),
    ]


def meets(report: Report, kind: DeadlineKind) -> bool:
    """Whether `report` is the thing a township-side deadline of `kind` waits for."""
    return report.type in MET_BY_REPORT.get(kind, frozenset())


def lateness(due_at: datetime, arrived_at: datetime) -> timedelta | None:
    """How late something arrived, or None when it was on time (exactly at the deadline is on time)."""
    return arrived_at - due_at if arrived_at > due_at else None


@dataclass(frozen=True, slots=True)
class Round:
    """One escalation round to send now."""

    number: int  # 0-based position in the chain's rounds, repeats included
    step: int  # index into chain.steps
    scheduled_for: datetime
    next_fire_at: datetime | None  # None: this was the last round


def next_round(chain: Chain, due_at: datetime, next_round: int, now: datetime) -> Round | None:
    """The round to send at `now`, skipping rounds whose successors are already due.

    A service that was down past several rounds sends one round (the latest due) rather than a
    burst; None when nothing is due yet (never fire early) or every round was sent.
    """
    schedule = chain.offsets()
    due = [n for n in range(next_round, len(schedule)) if due_at + schedule[n][1] <= now]
    if not due:
        return None
    number = due[-1]
    step, offset = schedule[number]
    following = number + 1
    next_fire = due_at + schedule[following][1] if following < len(schedule) else None
    return Round(number, step, due_at + offset, next_fire)
