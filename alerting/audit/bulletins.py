"""Quarterly bulletins and year-end rankings (一季一通报，年终总排队): computed from the log and the
reports, published once and then frozen."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.verify import chain_tail
from alerting.audit.network import network_of
from alerting.audit.queries import EntryQuery
from alerting.audit.tallies import confirmed_entries, tallies
from alerting.audit.work import routine_work
from alerting.domain import DeadlineKind, DeadlineState, EntryStatus, ReportType
from alerting.errors import ConflictError, NotFound
from alerting.policy.calendar import Period, quarter_of
from alerting.policy.model import Policy
from alerting.storage.schema import bulletins, deadlines, report_adoptions, reports

BulletinKind = Literal["quarter", "year"]
# Township-side deadlines that count towards the on-time rate.
COUNTED = [
    k.value
    for k in (
        DeadlineKind.FIRST_REPORT,
        DeadlineKind.WRITTEN_REPORT,
        DeadlineKind.FOLLOWUP,
        DeadlineKind.FINAL_REPORT,
        DeadlineKind.CONCEALMENT_CHECK,
        DeadlineKind.PERIODIC,
    )
]
CRITICISED = ("late_report", "missing_report", "concealment")  # 点名批评


def bulletin_schedule(tz: ZoneInfo) -> CronTrigger:
    """00:05 local every day: publishes what has ended and waited out its review window (publish_due)."""
    return CronTrigger(hour=0, minute=5, timezone=tz)


def year_of(at: datetime, tz: ZoneInfo) -> Period:
    year = at.astimezone(tz).year
    start = datetime(year, 1, 1, tzinfo=tz)
    return Period(
        str(year),
        start.astimezone(ZoneInfo("UTC")),
        datetime(year + 1, 1, 1, tzinfo=tz).astimezone(ZoneInfo("UTC")),
    )


def parse_period(key: str, tz: ZoneInfo) -> tuple[BulletinKind, Period]:
    """'2026-Q1' -> a quarter, '2026' -> a year (local time)."""
    year_text = key[:4]
    if year_text.isdigit() and not 1971 <= int(year_text) <= 2199:
        raise ValueError(f"{key!r}: the year must be between 1971 and 2199")
    if match := re.fullmatch(r"(\d{4})-Q([1-4])", key):
        year, quarter = int(match.group(1)), int(match.group(2))
        return "quarter", quarter_of(datetime(year, 3 * quarter - 2, 1, 12, tzinfo=tz), tz)
    if re.fullmatch(r"\d{4}", key):
        return "year", year_of(datetime(int(key), 6, 1, tzinfo=tz), tz)
    raise ValueError(f"{key!r} is not a period; write 2026-Q1 or 2026")


def previous(kind: BulletinKind, at: datetime, tz: ZoneInfo) -> Period:
    """The quarter or year that ended most recently before `at`."""
    current = quarter_of(at, tz) if kind == "quarter" else year_of(at, tz)
    before = current.start - timedelta(microseconds=1)
    return quarter_of(before, tz) if kind == "quarter" else year_of(before, tz)


def _competition_ranks(scores: list[float]) -> list[int]:
    """1, 2, 2, 4: equal scores share a rank."""
    ordered = sorted(scores, reverse=True)
    return [ordered.index(s) + 1 for s in scores]


@dataclass
class _Tally:
    reports: int = 0
    urgent: int = 0
    due: int = 0
    on_time: int = 0
    adopted: int = 0
    adoption_points: float = 0.0


async def compute(
    conn: AsyncConnection, policy: Policy, kind: BulletinKind, period: Period, now: datetime
) -> dict[str, Any]:
    """The bulletin for `period` as the data stands at `now` (not stored)."""
    scoring = policy.scoring
    tally: dict[str, _Tally] = defaultdict(_Tally)
    for town in policy.townships:
        tally[town]  # every township in the directory is ranked, silent ones included
    in_period = (reports.c.reported_at >= period.start) & (reports.c.reported_at < period.end)
    for row in await conn.execute(
        select(reports.c.township, reports.c.type, func.count().label("n"))
        .where(in_period)
        .group_by(reports.c.township, reports.c.type)
    ):
        tally[row.township].reports += row.n
        if row.type == ReportType.FIRST.value:
            tally[row.township].urgent += row.n
    end = min(period.end, now)
    met_in_time = (deadlines.c.state == DeadlineState.MET.value) & (deadlines.c.met_at <= deadlines.c.due_at)
    for row in await conn.execute(
        select(
            deadlines.c.township,
            func.count().label("due"),
            func.coalesce(func.sum(case((met_in_time, 1), else_=0)), 0).label("on_time"),
        )
        .where(
            deadlines.c.kind.in_(COUNTED),
            deadlines.c.due_at >= period.start,
            deadlines.c.due_at < end,
            deadlines.c.state.not_in([DeadlineState.CANCELLED.value, DeadlineState.CLEARED.value]),
        )
        .group_by(deadlines.c.township)
    ):
        tally[row.township].due += row.due
        tally[row.township].on_time += int(row.on_time)
    for row in await conn.execute(
        select(report_adoptions.c.township, report_adoptions.c.level, func.count().label("n"))
        .where(report_adoptions.c.adopted_at >= period.start, report_adoptions.c.adopted_at < period.end)
        .group_by(report_adoptions.c.township, report_adoptions.c.level)
    ):
        tally[row.township].adopted += row.n
        tally[row.township].adoption_points += scoring.adoption.get(row.level, 0) * row.n
    work, adopted_items = await routine_work(conn, period, scoring, now, policy.tz)
    network = await network_of(conn, period, now, policy.tz)
    for town, w in work.items():
        tally[town].adopted += w.adopted
        tally[town].adoption_points += w.adoption_points

    confirmed: dict[str, Counter[str]] = defaultdict(Counter)
    candidates: dict[str, Counter[str]] = defaultdict(Counter)
    query = EntryQuery(since=period.start, until=period.end, auto_confirm=frozenset(scoring.auto_confirm))
    for counted in await tallies(conn, query):
        if not counted.township or not counted.own:
            continue  # county-side failures are not a township's
        if counted.status is EntryStatus.PENDING:
            candidates[counted.township][counted.kind] += counted.count
        elif counted.status is EntryStatus.CONFIRMED and counted.finding:
            confirmed[counted.township][counted.finding] += counted.count
        tally[counted.township]
    criticisms = [
        _criticism(entry, entry["finding"], policy.tz)
        for entry in await confirmed_entries(conn, query, findings=CRITICISED)
    ]

    rows: list[dict[str, Any]] = []
    for town, t in tally.items():
        deductions = sum(scoring.deductions.get(k, 0) * n for k, n in confirmed[town].items())
        rows.append(
            {
                "township": town,
                "reports": t.reports,
                "urgent_reports": t.urgent,
                "deadlines_due": t.due,
                "on_time": t.on_time,
                "on_time_rate": round(t.on_time / t.due, 4) if t.due else None,
                "adopted": t.adopted,
                "adoption_points": t.adoption_points,
                "routine_items": work[town].items,
                "items_adopted_by_level": dict(sorted(work[town].adopted_by_level.items())),
                "items_returned": work[town].returned,
                "assignments_due": work[town].assignments_due,
                "assignments_on_time": work[town].assignments_on_time,
                **network.of(town),  # the latest inspection (六有) and the officers' vacancy days
                "failures": dict(sorted(confirmed[town].items())),
                "candidates": dict(sorted(candidates[town].items())),
                "deductions": deductions,
                "score": round(scoring.base + t.adoption_points - deductions, 2),
            }
        )
    for ranked, rank in zip(rows, _competition_ranks([r["score"] for r in rows]), strict=True):
        ranked["rank"] = rank
    rows.sort(key=lambda r: (r["rank"], r["township"]))
    local = policy.tz
    return {
        "kind": kind,
        "period": period.key,
        "start": period.start.astimezone(local).isoformat(),
        "end": period.end.astimezone(local).isoformat(),
        "computed_at": now.isoformat(),
        "townships": rows,
        "criticisms": sorted(criticisms, key=lambda c: (c["township"], c["occurred_at"])),
        "adopted_items": adopted_items,
        "scoring": scoring.model_dump(mode="json"),
        # The log's newest entry when this was computed: once published, `verify` holds the log to it.
        "chain_anchor": await chain_tail(conn),
    }


def _criticism(entry: dict[str, Any], finding: str, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "township": entry["township"],
        "finding": finding,
        "entry_id": entry["id"],
        "incident_id": entry["incident_id"],
        "incident_title": entry["incident_title"],
        "occurred_at": entry["occurred_at"].astimezone(tz).isoformat(),
        "delay_minutes": round(entry["delay_seconds"] / 60) if entry["delay_seconds"] else None,
    }


def _digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def published(conn: AsyncConnection, kind: BulletinKind, period: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(bulletins).where(bulletins.c.kind == kind, bulletins.c.period == period))
    ).one_or_none()
    return dict(row._mapping) if row else None


async def list_published(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(
            bulletins.c.kind,
            bulletins.c.period,
            bulletins.c.published_at,
            bulletins.c.published_by,
            bulletins.c.content_hash,
        ).order_by(bulletins.c.period.desc(), bulletins.c.kind)
    )
    return [dict(r._mapping) for r in rows]


async def publish(
    conn: AsyncConnection, policy: Policy, kind: BulletinKind, period: Period, by: str, now: datetime
) -> dict[str, Any]:
    """Compute and store the bulletin; a period is published once (ConflictError after that)."""
    if now < period.end:
        raise ConflictError(f"{period.key} has not ended yet; it can be previewed but not published")
    if await published(conn, kind, period.key):
        raise ConflictError(f"the {kind} bulletin for {period.key} is already published")
    content = await compute(conn, policy, kind, period, now)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(bulletins)
        .values(
            kind=kind,
            period=period.key,
            published_at=now,
            published_by=by,
            content=content,
            content_hash=_digest(content),
        )
        .on_conflict_do_nothing()
    )
    stored = await published(conn, kind, period.key)
    if stored is None:
        raise NotFound("the bulletin vanished while being published")
    return stored


async def publish_due(conn: AsyncConnection, policy: Policy, now: datetime) -> list[str]:
    """Publish the last ended quarter and year if nobody has yet, once the review window after it
    (`scoring.publish_after`) has passed (scheduler job and start-up catch-up)."""
    done = []
    kinds: tuple[BulletinKind, ...] = ("quarter", "year")
    for kind in kinds:
        period = previous(kind, now, policy.tz)
        if now < period.end + policy.scoring.publish_after:
            continue  # auditors are still reviewing its last candidates
        if await published(conn, kind, period.key) is None:
            await publish(conn, policy, kind, period, "scheduler", now)
            done.append(period.key)
    return done


async def adopt(
    conn: AsyncConnection, report_id: str, level: str, by: str, note: str, now: datetime
) -> dict[str, Any]:
    """采用: the information section marks a report adopted at a level (once per level)."""
    row = (
        await conn.execute(select(reports.c.township).where(reports.c.report_id == report_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"report {report_id} not found")
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = await conn.execute(
        dialect.insert(report_adoptions)
        .values(
            report_id=report_id, township=row.township, level=level, adopted_at=now, recorded_by=by, note=note
        )
        .on_conflict_do_nothing()
    )
    if not result.rowcount:
        raise ConflictError(f"report {report_id} is already marked adopted at the {level} level")
    return {"report_id": report_id, "township": row.township, "level": level, "adopted_at": now}
