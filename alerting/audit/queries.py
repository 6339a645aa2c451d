"""The auditors' queries: entries with their derived status, evidence, totals and cursor paging."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.audit.reviews import status_of
from alerting.domain import BOOKKEEPING_KINDS, EntryKind, EntryStatus, ReviewDecision
from alerting.errors import NotFound
from alerting.storage.schema import accountability_entries as entries
from alerting.storage.schema import accountability_entry_days as entry_days
from alerting.storage.schema import accountability_review_state as review_state
from alerting.storage.schema import deadlines, incidents, reports

Sort = Literal["id", "occurred_at"]


@dataclass(frozen=True, slots=True)
class EntryQuery:
    township: str | None = None
    kind: str | None = None
    status: EntryStatus | None = None
    level: str | None = None
    since: datetime | None = None  # occurred_at >= since
    until: datetime | None = None  # occurred_at < until
    auto_confirm: frozenset[str] = field(default_factory=frozenset)  # kinds confirmed without review


latest = review_state  # each reviewed entry's latest review (migration 0019)
BOOKKEEPING = sorted(BOOKKEEPING_KINDS)  # reviews and checkpoints: not findings about anybody


def with_latest_review(source: Any, bounds: tuple[int, int] | None) -> Any:
    """`source` (entries, perhaps joined) with each entry's latest review, if it has one (counts: a
    merge with the period's part of the table; the bounds are repeated for that side, which
    planners do not infer)."""
    on = [latest.c.entry_id == entries.c.id]
    if bounds is not None:
        on += [latest.c.entry_id >= bounds[0], latest.c.entry_id <= bounds[1]]
    return source.outerjoin(latest, and_(*on))


def _of_this_entry(column: Any) -> ColumnElement[Any]:
    """A column of the outer query's entry's latest review: one primary-key probe per row, so a page
    costs the same at any depth (a join would be planned as a merge from the table's start)."""
    return select(column).where(latest.c.entry_id == entries.c.id).scalar_subquery()


def review_of(decision: str | None, finding: str | None) -> dict[str, Any] | None:
    """The latest review's details that decide a status (None: not reviewed)."""
    if decision is None:
        return None
    return {"decision": decision, **({"to": finding} if finding else {})}


def period_filter(table: Any, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if since:
        where.append(table.c.occurred_at >= since)
    if until:
        where.append(table.c.occurred_at < until)
    return where


def _days(since: datetime | None, until: datetime | None) -> Select[Any]:
    """The lowest and highest id of the days (UTC) that overlap the period: they hold every entry
    of the period (and some around it), found in the table a trigger keeps (migration 0018)."""
    where = []
    if since:
        where.append(entry_days.c.day >= since.astimezone(UTC).date())
    if until:
        where.append(entry_days.c.day <= until.astimezone(UTC).date())
    return select(func.min(entry_days.c.first_id), func.max(entry_days.c.last_id)).where(*where)


NOTHING = (1, 0)  # bounds no id is within: a period without entries


async def period_ids(
    conn: AsyncConnection, since: datetime | None, until: datetime | None
) -> tuple[int, int] | None:
    """The id range a period's entries lie in (None: no period), looked up first so that it is bound
    as values: planners then see the range's size (a page stops early; a count over a year hashes
    instead of looping), which they cannot from a subquery. Implied by the period, so the rows are
    the same; occurred_at follows the id closely but not exactly, so the range is looked up."""
    if not since and not until:
        return None
    lowest, highest = (await conn.execute(_days(since, until))).one()
    return NOTHING if lowest is None else (int(lowest), int(highest))


def id_bounds(bounds: tuple[int, int] | None, column: Any = entries.c.id) -> list[ColumnElement[bool]]:
    return [] if bounds is None else [column >= bounds[0], column <= bounds[1]]


def filtered_select(
    q: EntryQuery, *, bounds: tuple[int, int] | None = None
) -> tuple[Select[Any], list[ColumnElement[bool]]]:
    query = select(
        entries,
        _of_this_entry(latest.c.decision).label("review_decision"),
        _of_this_entry(latest.c.finding).label("review_finding"),
        _of_this_entry(latest.c.review_id).label("review_id"),
        incidents.c.level.label("level"),
        incidents.c.title.label("incident_title"),
    ).select_from(entries.outerjoin(incidents, incidents.c.id == entries.c.incident_id))
    where: list[ColumnElement[bool]] = [entries.c.kind.not_in(BOOKKEEPING)]
    if q.township:
        where.append(entries.c.township == q.township)
    if q.kind:
        where.append(entries.c.kind == q.kind)
    if q.level:
        where.append(incidents.c.level == q.level)
    if bounds:
        # The period as a filter the time index cannot serve: with the id range it is read in id order
        # (planners, taking the two as independent, would otherwise read the period and sort it).
        at = func.coalesce(entries.c.occurred_at, entries.c.occurred_at)
        where += [entries.c.id >= bounds[0], entries.c.id <= bounds[1]]
        where += [at >= q.since] if q.since else []
        where += [at < q.until] if q.until else []
    else:
        where += period_filter(entries, q.since, q.until)
    if q.status:
        where.append(_status_filter(q.status, q.auto_confirm))
    return query, where


def _status_filter(status: EntryStatus, auto: frozenset[str]) -> ColumnElement[bool]:
    unreviewed = _of_this_entry(latest.c.review_id).is_(None)
    decision = _of_this_entry(latest.c.decision)
    automatic = entries.c.kind.in_(sorted(auto))
    match status:
        case EntryStatus.PENDING:
            return and_(unreviewed, not_(automatic))
        case EntryStatus.WAIVED:
            return decision == ReviewDecision.WAIVE.value
        case EntryStatus.CONFIRMED:
            return or_(
                decision.in_([ReviewDecision.CONFIRM.value, ReviewDecision.RECLASSIFY.value]),
                and_(unreviewed, automatic),
            )


def judge(kind: str, review: dict[str, Any] | None, auto: frozenset[str]) -> tuple[EntryStatus, str | None]:
    """An entry's status and finding from its latest review's details (None: not reviewed)."""
    status, finding = status_of(review)
    if review is None and kind in auto:
        status = EntryStatus.CONFIRMED
    if status is EntryStatus.CONFIRMED and finding is None:
        # Confirming a suspicion of concealment is a finding of concealment (瞒报).
        finding = "concealment" if kind == EntryKind.CONCEALMENT_SUSPECTED.value else kind
    return status, finding


def present(row: Any, auto: frozenset[str]) -> dict[str, Any]:
    """An entry as the API shows it: its own fields plus status, finding and incident context."""
    data = dict(row._mapping)
    review = review_of(data.pop("review_decision"), data.pop("review_finding"))
    status, finding = judge(data["kind"], review, auto)
    bookkeeping = data["kind"] in BOOKKEEPING_KINDS  # a review or checkpoint (opened by id) is never judged
    data["status"] = None if bookkeeping else status.value
    data["finding"] = None if bookkeeping else finding
    data["latest_review_id"] = data.pop("review_id")
    return data


def encode_cursor(sort_value: Any, entry_id: int) -> str:
    value = sort_value.isoformat() if isinstance(sort_value, datetime) else sort_value
    return base64.urlsafe_b64encode(json.dumps([value, entry_id]).encode()).decode()


def _decode_cursor(cursor: str, sort: Sort) -> tuple[Any, int]:
    try:
        value, entry_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not 0 <= int(entry_id) < 2**63:
            raise ValueError("id out of range")
        if sort == "id":
            if not 0 <= int(value) < 2**63:
                raise ValueError("id out of range")
            return int(value), int(entry_id)
        at = datetime.fromisoformat(value)
        if at.tzinfo is None or not 1971 <= at.year <= 2199:
            raise ValueError("a cursor time carries its offset and a plausible year")
        return at, int(entry_id)
    except (ValueError, TypeError):
        raise ValueError("cursor is not valid; use next_cursor from the previous page") from None


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[dict[str, Any]]
    next_cursor: str | None


async def list_entries(
    conn: AsyncConnection,
    q: EntryQuery,
    *,
    sort: Sort = "id",
    descending: bool = False,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    bounds = await period_ids(conn, q.since, q.until) if sort == "id" else None
    if bounds == NOTHING:
        return Page([], None)
    query, where = filtered_select(q, bounds=bounds)
    column = entries.c.id if sort == "id" else entries.c.occurred_at
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        after = (
            (column < value) | ((column == value) & (entries.c.id < last_id))
            if descending
            else ((column > value) | ((column == value) & (entries.c.id > last_id)))
        )
        where.append(after)
    order = [column.desc(), entries.c.id.desc()] if descending else [column, entries.c.id]
    rows = (await conn.execute(query.where(*where).order_by(*order).limit(limit + 1))).all()
    shown = [present(r, q.auto_confirm) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = shown[-1]
        next_cursor = encode_cursor(last[sort], last["id"])
    return Page(shown, next_cursor)


async def entry_batches(
    conn: AsyncConnection, q: EntryQuery, batch: int = 1000
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every matching entry in id order, a batch at a time (exports): memory stays one batch."""
    cursor = None
    while True:
        page = await list_entries(conn, q, cursor=cursor, limit=batch)
        if page.entries:
            yield page.entries
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def iterate_entries(
    conn: AsyncConnection, q: EntryQuery, batch: int = 1000
) -> AsyncIterator[dict[str, Any]]:
    """Every matching entry in id order."""
    async for page in entry_batches(conn, q, batch):
        for entry in page:
            yield entry


async def entry_detail(conn: AsyncConnection, entry_id: int, auto: frozenset[str]) -> dict[str, Any]:
    """One entry with its evidence (incident, report, deadline) and its reviews, oldest first."""
    query, _ = filtered_select(EntryQuery())
    row = (await conn.execute(query.where(entries.c.id == entry_id))).one_or_none()
    if row is None:
        raise NotFound(f"entry {entry_id} not found")
    entry = present(row, auto)
    evidence: dict[str, Any] = {}
    if entry["incident_id"]:
        incident = (
            await conn.execute(select(incidents).where(incidents.c.id == entry["incident_id"]))
        ).one_or_none()
        evidence["incident"] = dict(incident._mapping) if incident else None
    if entry["report_id"]:
        report = (
            await conn.execute(select(reports).where(reports.c.report_id == entry["report_id"]))
        ).one_or_none()
        evidence["report"] = dict(report._mapping) if report else None
    if entry["deadline_id"]:
        deadline = (
            await conn.execute(select(deadlines).where(deadlines.c.id == entry["deadline_id"]))
        ).one_or_none()
        evidence["deadline"] = dict(deadline._mapping) if deadline else None
    entry["evidence"] = evidence
    entry["reviews"] = [
        dict(r._mapping)
        for r in await conn.execute(
            select(entries)
            .where(entries.c.kind == EntryKind.REVIEW.value, entries.c.refers_to == entry_id)
            .order_by(entries.c.id)
        )
    ]
    return entry
