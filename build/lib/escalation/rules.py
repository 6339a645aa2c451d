"""Pure deadline rules: functions of (report or deadline, policy, now), no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alerting.domain import MET_BY_REPORT, DeadlineKind, Report
from alerting.policy.calendar import local_times_after
from alerting.policy.model import Chain, FollowupRule, LevelRules


@dataclass(frozen=True, slots=True)
class NewDeadline:
    kind: DeadlineKind
    due_at: datetime
    seq: int = 0


def clock_start(occurred_at: datetime, known_at: datetime, rules: LevelRules) -> datetime:
    return occurred_at if rules.clock_starts == "occurred_at" else known_at


def next_followup(
    rule: FollowupRule | None, start: datetime, after: datetime, tz: ZoneInfo
) -> datetime | None:
    """The first follow-up slot strictly after `after` for a cadence that began at `start`."""
    if rule is None:
        return None
    if rule.every is not None:
        elapsed = after - start
        k = max(1, elapsed // rule.every + 1)
        slot = start + k * rule.every
        if slot - start <= rule.for_:
            return slot
    times = rule.local_times()
    if not times:
        return None
    return local_times_after(max(after, start + rule.for_), times, tz)


def county_deadlines(rules: LevelRules, heard_at: datetime) -> list[NewDeadline]:
    """The county's own deadlines, counted from when it heard of the incident."""
    found = [NewDeadline(DeadlineKind.ACK, heard_at + rules.ack)]
    if rules.forward_phone is not None:
        found.append(NewDeadline(DeadlineKind.FORWARD_PHONE, heard_at + rules.forward_phone))
    if rules.forward_written is not None:
        found.append(NewDeadline(DeadlineKind.FORWARD_WRITTEN, heard_at + rules.forward_written))
    return found


def initial_deadlines(report: Report, rules: LevelRules, tz: ZoneInfo) -> list[NewDeadline]:
    """Deadlines an incident gets when the county first hears of it through `report`."""
    start = clock_start(report.occurred_at, report.known_at, rules)
    found = [
        NewDeadline(DeadlineKind.FIRST_REPORT, start + rules.first_report),
        NewDeadline(DeadlineKind.WRITTEN_REPORT, start + rules.written_report),
        *county_deadlines(rules, report.reported_at),
    ]
    followup = next_followup(rules.followup, start, start, tz)
    if followup is not None:
        found.append(NewDeadline(DeadlineKind.FOLLOWUP, followup, seq=1))
    return found


def rederived_due(
    kind: DeadlineKind, rules: LevelRules, changed_at: datetime, tz: ZoneInfo
) -> datetime | None:
    """A still-pending deadline's new time after a level change at `changed_at` (None: no longer owed).

    The clock restarts at the change: the new level's limit counts from that moment.
    """
    limits: dict[DeadlineKind, timedelta | None] = {
        DeadlineKind.WRITTEN_REPORT: rules.written_report,
        DeadlineKind.ACK: rules.ack,
        DeadlineKind.FORWARD_PHONE: rules.forward_phone,
        DeadlineKind.FORWARD_WRITTEN: rules.forward_written,
        DeadlineKind.FINAL_REPORT: rules.final_report,
    }
    if kind is DeadlineKind.FOLLOWUP:
        return next_followup(rules.followup, changed_at, changed_at, tz)
    if kind not in limits:
        raise ValueError(f"{kind} is not re-derived on a level change")
    limit = limits[kind]
    return None if limit is None else changed_at + limit


def regraded_due(
    kind: DeadlineKind,
    current: datetime,
    rules: LevelRules,
    changed_at: datetime,
    tz: ZoneInfo,
    *,
    graver: bool,
) -> datetime | None:
    """A pending deadline's time after the level changes at `changed_at` (None: no longer owed).

    A graver level only ever brings a clock forward: the earlier of its time and the new limit from
    the change, so nobody postpones what they owe by changing the level. A lighter level (only the
    county re-grades downward) only ever relaxes it, and drops what that level does not require.
    """
    new = rederived_due(kind, rules, changed_at, tz)
    if graver:
        return current if new is None else min(current, new)
    return None if new is None else max(current, new)


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
    covers: tuple[int, ...]  # the steps of every round it stands for (a late round catches up)


def next_round(chain: Chain, due_at: datetime, next_round: int, now: datetime) -> Round | None:
    """The round to send at `now`, standing for every round already due that was not sent.

    A service that was down past several rounds (or a report that arrives past several) sends one
    round, the latest due, rather than a burst; it reaches the people of every step it stands for, so
    that nobody in the chain is skipped. None when nothing is due yet (never fire early) or every
    round was sent.
    """
    schedule = chain.offsets()
    due = [n for n in range(next_round, len(schedule)) if due_at + schedule[n][1] <= now]
    if not due:
        return None
    number = due[-1]
    step, offset = schedule[number]
    following = number + 1
    next_fire = due_at + schedule[following][1] if following < len(schedule) else None
    covers = tuple(dict.fromkeys(schedule[n][0] for n in due))
    return Round(number, step, due_at + offset, next_fire, covers)
