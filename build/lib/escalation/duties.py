"""Township duties that are not about one incident: silence, periodic reports, quarterly balance.

Each is a deadline row keyed by (township, kind, period), armed ahead by `ensure_duties` and settled
by the reports that meet it; the firing engine treats them like any other deadline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import DeadlineKind, DeadlineState, Report, RoutineItem
from alerting.policy.calendar import Period, after_working_days, day_of_month_deadline, month_of, quarter_of
from alerting.policy.model import PeriodicDuty, Policy
from alerting.storage.schema import deadlines, item_versions, items, reports
from escalation.arming import OPEN, Settled, insert_ignoring_existing, settle

SILENCE_KINDS = (DeadlineKind.SILENCE_REMINDER, DeadlineKind.SILENCE)
LAST_INSTANT = timedelta(microseconds=1)  # a period's end is exclusive: its last instant is just before


def duty_row(
    township: str,
    kind: DeadlineKind,
    period: str,
    due_at: datetime,
    now: datetime,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A township duty's deadline row (no incident), pending and due at `due_at`."""
    return {
        "incident_id": None,
        "township": township,
        "kind": kind.value,
        "seq": 0,
        "period": period,
        "due_at": due_at,
        "state": DeadlineState.PENDING.value,
        "fire_at": due_at,
        "next_round": 0,
        "context": context,
        "created_at": now,
    }


def silence_rows(policy: Policy, township: str, since: datetime, now: datetime) -> list[dict[str, Any]]:
    """Reminder and silent_unit deadlines for a silent stretch that began at `since`."""
    rules, tz = policy.silence, policy.tz
    context = {"since": since.isoformat()}
    period = f"since:{since.isoformat()}"
    return [
        duty_row(
            township,
            DeadlineKind.SILENCE_REMINDER,
            period,
            after_working_days(since, rules.remind_after_working_days, policy.calendar, tz),
            now,
            context,
        ),
        duty_row(
            township,
            DeadlineKind.SILENCE,
            period,
            after_working_days(since, rules.flag_after_working_days, policy.calendar, tz),
            now,
            context,
        ),
    ]


def judged_period(kind: DeadlineKind, context: dict[str, Any] | None, policy: Policy) -> Period | None:
    """The month or quarter a duty deadline judges (None: not a period duty, or its duty is gone)."""
    context = context or {}
    if kind is DeadlineKind.QUARTER_BALANCE and "quarter_start" in context:
        return quarter_of(datetime.fromisoformat(context["quarter_start"]), policy.tz)
    if kind is DeadlineKind.PERIODIC and "period_start" in context:
        duty = next((d for d in policy.periodic if d.name == context.get("duty")), None)
        if duty is not None:
            return duty_period(duty, datetime.fromisoformat(context["period_start"]), policy)
    return None


def finding_time(
    kind: DeadlineKind, due_at: datetime, context: dict[str, Any] | None, policy: Policy
) -> tuple[datetime, str | None]:
    """When a missed duty's entry is dated, and the period it judges if that moved the date.

    A duty due at its period's end falls due at the first instant of the next period; its finding
    belongs to the period it judges (Q1's 报喜不报忧 in Q1's bulletin, December's in that year's
    ranking), so it is dated at that period's last instant."""
    period = judged_period(kind, context, policy)
    if period is None or due_at < period.end:
        return due_at, None
    return period.end - LAST_INSTANT, period.key


def duty_period(duty: PeriodicDuty, at: datetime, policy: Policy) -> Period:
    return month_of(at, policy.tz) if duty.schedule == "monthly" else quarter_of(at, policy.tz)


def periodic_row(
    policy: Policy, township: str, duty: PeriodicDuty, at: datetime, now: datetime
) -> dict[str, Any]:
    period = duty_period(duty, at, policy)
    due = day_of_month_deadline(period, duty.due_day, policy.tz) if duty.due_day else period.end
    return duty_row(
        township,
        DeadlineKind.PERIODIC,
        f"{duty.name}:{period.key}",
        due,
        now,
        {"duty": duty.name, "title": duty.title, "period_start": period.start.isoformat()},
    )


def balance_row(policy: Policy, township: str, at: datetime, now: datetime) -> dict[str, Any]:
    quarter = quarter_of(at, policy.tz)
    return duty_row(
        township,
        DeadlineKind.QUARTER_BALANCE,
        quarter.key,
        quarter.end,
        now,
        {"quarter_start": quarter.start.isoformat()},
    )


async def ensure_duties(conn: AsyncConnection, policy: Policy, now: datetime) -> int:
    """Arm this period's duties for every township in the directory (idempotent); rows added."""
    rows: list[dict[str, Any]] = []
    silent_since = {
        r.township
        for r in await conn.execute(
            select(deadlines.c.township)
            .where(deadlines.c.incident_id.is_(None), deadlines.c.kind == DeadlineKind.SILENCE.value)
            .distinct()
        )
    }
    for township in policy.townships:
        if township not in silent_since:
            rows.extend(silence_rows(policy, township, now, now))
        # A period whose due date passed before anyone watched it is not held against the township.
        rows.extend(
            row
            for duty in policy.periodic
            if (row := periodic_row(policy, township, duty, now, now))["due_at"] > now
        )
        if policy.balance.enabled:
            rows.append(balance_row(policy, township, now, now))
    return await insert_ignoring_existing(conn, rows)


async def on_report(
    conn: AsyncConnection, policy: Policy, report: Report | RoutineItem, now: datetime
) -> list[Settled]:
    """A report or a routine item restarts its township's silence clock and may meet a periodic duty
    (with a catalogue, periodic duties name routine categories: only routine items meet them)."""
    await _restart_silence(conn, policy, report, now)
    settled: list[Settled] = []
    for duty in policy.periodic:
        if report.category not in duty.categories:
            continue
        row = periodic_row(policy, report.township, duty, report.reported_at, now)
        if row["due_at"] > report.reported_at:  # arm it now if the month's first tick has not yet
            await insert_ignoring_existing(conn, [row])
        settled += await settle(
            conn,
            where=[
                deadlines.c.township == report.township,
                deadlines.c.kind == DeadlineKind.PERIODIC.value,
                deadlines.c.period == row["period"],
            ],
            met_at=report.reported_at,
            met_by=report.report_id,
        )
    return settled


async def _restart_silence(
    conn: AsyncConnection, policy: Policy, report: Report | RoutineItem, now: datetime
) -> None:
    if policy.townships and report.township not in policy.townships:
        return
    rows = (
        await conn.execute(
            select(deadlines.c.id, deadlines.c.kind, deadlines.c.state, deadlines.c.due_at).where(
                deadlines.c.incident_id.is_(None),  # the partial duty index
                deadlines.c.township == report.township,
                deadlines.c.kind.in_([k.value for k in SILENCE_KINDS]),
                deadlines.c.state.in_(OPEN),
            )
        )
    ).all()
    fresh = {r["kind"]: r for r in silence_rows(policy, report.township, report.reported_at, now)}
    moved: set[str] = set()
    for row in rows:
        if row.state == DeadlineState.PENDING.value:
            # Still counting: push the clock forward (never back, for reports that arrive out of order).
            new = fresh[row.kind]
            if new["due_at"] > row.due_at:
                await conn.execute(
                    deadlines.update()
                    .where(deadlines.c.id == row.id, deadlines.c.state == DeadlineState.PENDING.value)
                    .values(due_at=new["due_at"], fire_at=new["due_at"], context=new["context"])
                )
            moved.add(row.kind)
        else:
            # The silence was already flagged; this report ends that stretch.
            await conn.execute(
                deadlines.update()
                .where(deadlines.c.id == row.id)
                .values(
                    state=DeadlineState.MET.value,
                    fire_at=None,
                    met_at=report.reported_at,
                    met_by=report.report_id,
                )
            )
    missing = [row for kind, row in fresh.items() if kind not in moved]
    if missing and not await _has_newer_stretch(conn, report):
        await insert_ignoring_existing(conn, missing)


async def _has_newer_stretch(conn: AsyncConnection, report: Report | RoutineItem) -> bool:
    """Whether a later report or item already started a silence stretch (this one arrived out of
    order)."""
    for latest in (
        select(func.max(reports.c.reported_at)).where(reports.c.township == report.township),
        select(func.max(item_versions.c.submitted_at))
        .join(items, items.c.id == item_versions.c.item_id)
        .where(items.c.township == report.township),
    ):
        found = (await conn.execute(latest)).scalar_one_or_none()
        if found is not None and found > report.reported_at:
            return True
    return False


async def balance_flagged(
    conn: AsyncConnection, township: str, start: datetime, end: datetime
) -> dict[str, int] | None:
    """Counts for a good_news_only entry, or None when the quarter was balanced or empty: urgent
    reports and routine items (by their first version's receipt) both count."""
    counted = []
    for problem, table, at in (
        (reports.c.is_problem, reports, reports.c.reported_at),
        (items.c.is_problem, items, items.c.submitted_at),
    ):
        total, problems = (
            await conn.execute(
                select(func.count(), func.count().filter(problem.is_(True))).where(
                    table.c.township == township, at >= start, at < end
                )
            )
        ).one()
        counted += [int(total), int(problems)]
    reported, problem_reports, submitted, problem_items = counted
    if reported + submitted == 0 or problem_reports + problem_items > 0:
        return None
    return {"reports": reported, "problem_reports": 0, "items": submitted, "problem_items": 0}
