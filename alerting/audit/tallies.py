"""Counting the log in the database: entries by township, kind and status in one GROUP BY (totals and
bulletins), and the confirmed entries of a period, without reading every entry into Python."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.audit.queries import (
    BOOKKEEPING,
    EntryQuery,
    id_bounds,
    judge,
    latest,
    period_filter,
    period_ids,
    review_of,
    with_latest_review,
)
from alerting.domain import EntryKind, EntryStatus, ReviewDecision
from alerting.storage.schema import accountability_entries as entries
from alerting.storage.schema import incidents

GROUPING_MEMORY = "64MB"
CONFIRMING = [ReviewDecision.CONFIRM.value, ReviewDecision.RECLASSIFY.value]


@dataclass(frozen=True, slots=True)
class Tally:
    township: str | None
    kind: str
    own: bool  # the township itself is responsible, not the county side
    status: EntryStatus
    finding: str | None
    count: int


Bounds = tuple[int, int] | None  # queries.period_ids


def _filtered(q: EntryQuery, bounds: Bounds) -> tuple[Any, list[ColumnElement[bool]]]:
    """The entries of `q`, status aside."""
    source: Any = entries
    where: list[ColumnElement[bool]] = [entries.c.kind.not_in(BOOKKEEPING)]
    if q.level:
        source = source.outerjoin(incidents, incidents.c.id == entries.c.incident_id)
        where.append(incidents.c.level == q.level)
    if q.township:
        where.append(entries.c.township == q.township)
    if q.kind:
        where.append(entries.c.kind == q.kind)
    where += period_filter(entries, q.since, q.until) + id_bounds(bounds)
    return source, where


def _reviewed(q: EntryQuery, bounds: Bounds) -> tuple[Any, list[ColumnElement[bool]]]:
    """The entries of `q` (status aside) with their latest review: one row per reviewed entry in
    entry order (accountability_review_state), merged with the period's entries."""
    source, where = _filtered(q, bounds)
    return with_latest_review(source, bounds), where


def _decision() -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    return latest.c.decision.label("decision"), latest.c.finding.label("to")


class _Verdicts:
    """`judge` per (kind, decision, finding): a year's tens of thousands of rows share a few dozen."""

    def __init__(self, auto: frozenset[str]) -> None:
        self._auto = auto
        self._known: dict[tuple[str, str | None, str | None], tuple[EntryStatus, str | None]] = {}

    def __call__(self, kind: str, decision: str | None, to: str | None) -> tuple[EntryStatus, str | None]:
        key = (kind, decision, to)
        verdict = self._known.get(key)
        if verdict is None:
            verdict = self._known[key] = judge(kind, review_of(decision, to), self._auto)
        return verdict


async def _room_to_group(conn: AsyncConnection) -> None:
    """PostgreSQL: memory for a year's groups (~50,000 at a province), for this transaction only; with
    the default 4 MB the grouping spilled to disk and took half the time."""
    if conn.dialect.name == "postgresql":  # the statement begins the transaction if none is open
        await conn.execute(text(f"SET LOCAL work_mem = '{GROUPING_MEMORY}'"))


async def tallies(conn: AsyncConnection, q: EntryQuery) -> list[Tally]:
    """How many entries of `q` there are per township, kind, side, status and finding."""
    await _room_to_group(conn)
    joined, where = _reviewed(q, await period_ids(conn, q.since, q.until))
    own = (entries.c.responsible == entries.c.township).label("own")
    decision, to = _decision()
    query: Select[Any] = (
        select(entries.c.township, entries.c.kind, own, decision, to, func.count().label("n"))
        .select_from(joined)
        .where(*where)
        .group_by(entries.c.township, entries.c.kind, own, decision, to)
    )
    found: Counter[tuple[str | None, str, bool, EntryStatus, str | None]] = Counter()
    verdict = _Verdicts(q.auto_confirm)
    for township, kind, is_own, decision_, to_, n in (await conn.execute(query)).all():
        status, finding = verdict(kind, decision_, to_)
        if q.status is None or status is q.status:
            found[(township, kind, bool(is_own), status, finding)] += n
    return [Tally(*key, count=n) for key, n in sorted(found.items(), key=_tally_order)]


def _tally_order(item: tuple[tuple[str | None, str, bool, EntryStatus, str | None], int]) -> tuple[Any, ...]:
    township, kind, is_own, status, finding = item[0]
    return (township or "", kind, is_own, status.value, finding or "")


async def totals(conn: AsyncConnection, q: EntryQuery) -> dict[str, Any]:
    """How many entries of `q` there are, per township and per kind. Without a status filter the
    reviews do not matter, and the count is one GROUP BY over the period's entries alone."""
    by_township: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    if q.status is None:
        source, where = _filtered(q, await period_ids(conn, q.since, q.until))
        query = (
            select(entries.c.township, entries.c.kind, func.count().label("n"))
            .select_from(source)
            .where(*where)
            .group_by(entries.c.township, entries.c.kind)
        )
        counted = [(row.township, row.kind, row.n) for row in await conn.execute(query)]
    else:
        counted = [(t.township, t.kind, t.count) for t in await tallies(conn, q)]
    for township, kind, n in counted:
        by_township[township or ""] += n
        by_kind[kind] += n
    return {"total": sum(by_kind.values()), "by_township": dict(by_township), "by_kind": dict(by_kind)}


def _finding() -> ColumnElement[Any]:
    """A confirmed entry's finding in SQL, as `judge` makes it: the review's, else from the kind."""
    from_kind = case(
        (entries.c.kind == EntryKind.CONCEALMENT_SUSPECTED.value, "concealment"), else_=entries.c.kind
    )
    return func.coalesce(latest.c.finding, from_kind)


async def confirmed_entries(
    conn: AsyncConnection, q: EntryQuery, findings: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """The township-side entries of `q` confirmed by a review or automatically, with their finding,
    incident title and delay, in id order; only those found to be one of `findings` when given (a
    bulletin's 点名批评: the database leaves out the rest)."""
    bounds = await period_ids(conn, q.since, q.until)
    source, where = _filtered(q, bounds=None)  # the id range goes on the review state's side, below
    source = source if q.level else source.outerjoin(incidents, incidents.c.id == entries.c.incident_id)
    where += [entries.c.responsible == entries.c.township]
    if findings is not None:
        where.append(_finding().in_(sorted(findings)))
    decision, to = _decision()
    columns = [
        entries.c.id,
        entries.c.kind,
        entries.c.township,
        entries.c.incident_id,
        entries.c.occurred_at,
        entries.c.delay_seconds,
        incidents.c.title.label("incident_title"),
        decision,
        to,
    ]
    # Reviewed ones from the review state's part of the period, each entry found by its key: about a
    # tenth of the period's entries. Planners, seeing the range on the entries' side too, took the
    # period as a few hundred rows and probed the review state for each of the million.
    parts: list[Select[Any]] = [
        select(*columns)
        .select_from(latest.join(source, latest.c.entry_id == entries.c.id))
        .where(*where, *id_bounds(bounds, latest.c.entry_id), decision.in_(CONFIRMING))
    ]
    if q.auto_confirm:  # and unreviewed ones of the kinds confirmed without a review
        auto = entries.c.kind.in_(sorted(q.auto_confirm))
        unreviewed = with_latest_review(source, bounds)
        parts.append(
            select(*columns)
            .select_from(unreviewed)
            .where(*where, *id_bounds(bounds), auto, latest.c.review_id.is_(None))
        )
    if len(parts) == 1:
        query = parts[0].order_by(entries.c.id)
    else:
        both = union_all(*parts).subquery()
        query = both.select().order_by(both.c.id)
    rows = await conn.execute(query)
    keys, verdict = list(rows.keys()), _Verdicts(q.auto_confirm)
    shown = []
    for row in rows.all():  # tens of thousands for a year: plain tuples, not row mappings
        entry = dict(zip(keys, row, strict=True))
        entry["finding"] = verdict(entry["kind"], entry["decision"], entry["to"])[1]
        shown.append(entry)
    return shown


async def count(conn: AsyncConnection, q: EntryQuery) -> int:
    """How many entries `q` lists (a page's 共 N 条): a plain count unless the status needs the reviews."""
    if q.status is not None:
        return sum(t.count for t in await tallies(conn, q))
    source, where = _filtered(q, await period_ids(conn, q.since, q.until))
    return int((await conn.execute(select(func.count()).select_from(source).where(*where))).scalar_one())
