"""What people owe and watch, read in a few set-based queries: the duty officers' board (值班看板) of
open incidents with their stage and next deadline, and a township's to-do list (我的待办).

A deadline is owed while it is pending, escalating or exhausted (every reminder sent, still unmet):
only a report, an acknowledgement or a forward settles it."""

from __future__ import annotations

import hashlib
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

import orjson
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import DeadlineKind, DeadlineState
from alerting.storage.schema import deadlines, incident_events, incidents, items, notice_reads

OWED = [DeadlineState.PENDING.value, DeadlineState.ESCALATING.value, DeadlineState.EXHAUSTED.value]
# What the one who owes a deadline must do, in Chinese.
OWED_ZH = {
    DeadlineKind.FIRST_REPORT: "首报",
    DeadlineKind.WRITTEN_REPORT: "书面报告",
    DeadlineKind.FOLLOWUP: "续报",
    DeadlineKind.FINAL_REPORT: "终报",
    DeadlineKind.CONCEALMENT_CHECK: "报告县委办已获悉的事件",
    DeadlineKind.ACK: "签收",
    DeadlineKind.FORWARD_PHONE: "电话上报市委办",
    DeadlineKind.FORWARD_WRITTEN: "书面上报市委办",
    DeadlineKind.PERIODIC: "定期报送",
    DeadlineKind.ASSIGNMENT: "约稿",
    DeadlineKind.OFFICER_VACANCY: "备案信息员",
    DeadlineKind.SILENCE: "报送信息（避免长期未报送）",
}
TOWNSHIP_OWES = (
    DeadlineKind.FIRST_REPORT,
    DeadlineKind.WRITTEN_REPORT,
    DeadlineKind.FOLLOWUP,
    DeadlineKind.FINAL_REPORT,
    DeadlineKind.CONCEALMENT_CHECK,
    DeadlineKind.PERIODIC,
    DeadlineKind.ASSIGNMENT,
    DeadlineKind.OFFICER_VACANCY,
    DeadlineKind.SILENCE,
)
_FORWARDS = {DeadlineKind.FORWARD_PHONE.value, DeadlineKind.FORWARD_WRITTEN.value}
_TOWNSHIP_SIDE = {k.value for k in TOWNSHIP_OWES[:5]}

Chip = Literal["unacknowledged", "handling", "to_forward", "overdue"]
CHIP_ZH: dict[str, str] = {
    "unacknowledged": "待签收",
    "handling": "处置中",
    "to_forward": "待报市",
    "overdue": "超时",
}


@dataclass(frozen=True, slots=True)
class _Owed:
    kind: str
    due_at: datetime
    state: str


def _stage(acknowledged: bool, owed: list[_Owed]) -> str:
    """The incident's current stage as the board names it."""
    if not acknowledged:
        return "待签收"
    if any(o.kind in _FORWARDS for o in owed):
        return "待报市"
    waiting = [o for o in owed if o.kind in _TOWNSHIP_SIDE]
    if waiting:
        return f"待{OWED_ZH[DeadlineKind(min(waiting, key=lambda o: o.due_at).kind)]}"
    return "处置中"


def _chips(acknowledged: bool, owed: list[_Owed], now: datetime) -> set[str]:
    chips = {"handling" if acknowledged else "unacknowledged"}
    if any(o.kind in _FORWARDS for o in owed):
        chips.add("to_forward")
    if any(o.due_at <= now for o in owed):
        chips.add("overdue")
    return chips


class _Cached(NamedTuple):
    revision: tuple[Any, ...]
    at: datetime  # the service's now it was computed for
    made: float  # time.monotonic() when: sharing is about this process's work, not the county's time
    found: dict[str, Any]
    version: str


def content_version(found: dict[str, Any]) -> str:
    """A digest of what a board shows, without the time it was read: equal while nothing shown has
    changed, so a refresh that would show the same can be answered 304 (the times tick in the page)."""
    shown = {k: v for k, v in found.items() if k not in ("at", "version")}
    return hashlib.blake2b(orjson.dumps(shown), digest_size=12).hexdigest()


# Every duty officer's board polls the same view every few seconds: one computation serves them all
# while nothing happened to an open incident, for at most FRESH_FOR (deadlines passing by time); and
# while incidents change by the second (a burst, a firing storm), for at least SHARED_FOR, so fifty
# boards cost one computation a second, not fifty.
FRESH_FOR = timedelta(seconds=2)
SHARED_FOR = timedelta(seconds=1)
_monotonic = time.monotonic  # the ages above are of this process's work (a test moves it by hand)
_CACHES: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], _Cached]] = weakref.WeakKeyDictionary()


async def _revision(conn: AsyncConnection) -> tuple[Any, ...]:
    """What changes with every report, act and new or closed incident: three index look-ups."""
    open_ones = select(func.count(), func.max(incidents.c.updated_at)).where(incidents.c.status == "open")
    counted, latest = (await conn.execute(open_ones)).one()
    last_event = (await conn.execute(select(func.max(incident_events.c.id)))).scalar_one()
    return counted, latest, last_event


async def cached_board(
    conn: AsyncConnection,
    now: datetime,
    *,
    chip: Chip | None = None,
    township: str | None = None,
    limit: int = 100,
    offset: int = 0,
    fresh: bool = False,
) -> dict[str, Any]:
    """`board` with its content version (see content_version), shared between requests of the same
    view in this process: recomputed once SHARED_FOR has passed and an open incident changed, or once
    FRESH_FOR has passed. `fresh`: recomputed now (the answer to one's own act shows it)."""
    cache = _CACHES.setdefault(conn.sync_engine, {})
    key = (chip, township, limit, offset)
    revision = await _revision(conn)
    hit = None if fresh else cache.get(key)
    if hit is not None and hit.at <= now < hit.at + FRESH_FOR:
        age = timedelta(seconds=_monotonic() - hit.made)
        if age < SHARED_FOR or (hit.revision == revision and age < FRESH_FOR):
            return {**hit.found, "at": now, "version": hit.version}
    found = await board(conn, now, chip=chip, township=township, limit=limit, offset=offset)
    if len(cache) > 100:  # views are few (chips × townships × pages); bound it anyway
        cache.clear()
    version = content_version(found)
    cache[key] = _Cached(revision, now, _monotonic(), found, version)
    return {**found, "version": version}


async def board(
    conn: AsyncConnection,
    now: datetime,
    *,
    chip: Chip | None = None,
    township: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Open incidents, overdue first, then by their next deadline; counts per chip over all of them.

    Counting and ordering happen in SQL over a per-incident summary of the owed deadlines, so only
    the page's incidents and their deadlines are read into Python, however many are open."""
    where = [incidents.c.status == "open"]
    if township is not None:
        where.append(incidents.c.township == township)
    # From the open incidents to their deadlines (the (incident_id, kind, seq) key), never a scan of
    # every deadline the county has ever had.
    per = (
        select(
            deadlines.c.incident_id.label("incident_id"),
            func.min(deadlines.c.due_at).label("next_due"),
            func.max(case((deadlines.c.kind.in_(_FORWARDS), 1), else_=0)).label("forwarding"),
        )
        .select_from(incidents.join(deadlines, deadlines.c.incident_id == incidents.c.id))
        .where(*where, deadlines.c.state.in_(OWED))
        .group_by(deadlines.c.incident_id)
        .subquery()
    )
    joined = incidents.outerjoin(per, per.c.incident_id == incidents.c.id)
    overdue = per.c.next_due <= now
    conditions = {
        "unacknowledged": incidents.c.acknowledged_at.is_(None),
        "handling": incidents.c.acknowledged_at.is_not(None),
        "to_forward": per.c.forwarding == 1,
        "overdue": overdue,
    }
    counted = (
        await conn.execute(
            select(
                func.count(),
                *(func.coalesce(func.sum(case((c, 1), else_=0)), 0) for c in conditions.values()),
            )
            .select_from(joined)
            .where(*where)
        )
    ).one()
    counts = dict(zip(conditions, counted[1:], strict=True))
    total = int(counts[chip] if chip is not None else counted[0])
    if chip is not None:
        where.append(conditions[chip])
    page = (
        await conn.execute(
            select(*_SHOWN)
            .select_from(joined)
            .where(*where)
            .order_by(
                case((overdue, 0), else_=1),
                per.c.next_due.is_(None),
                per.c.next_due,
                incidents.c.known_at,
                incidents.c.id,
            )
            .limit(limit)
            .offset(offset)
        )
    ).all()
    owed: dict[str, list[_Owed]] = defaultdict(list)
    if page:
        query = select(
            deadlines.c.incident_id, deadlines.c.kind, deadlines.c.due_at, deadlines.c.state
        ).where(deadlines.c.incident_id.in_([r.id for r in page]), deadlines.c.state.in_(OWED))
        for r in await conn.execute(query):
            owed[r.incident_id].append(_Owed(r.kind, r.due_at, r.state))
    return {
        "at": now,
        "chips": [{"chip": name, "label": CHIP_ZH[name], "count": int(n)} for name, n in counts.items()],
        "total": total,
        "incidents": [_shown(row, owed.get(row.id, []), now) for row in page],
    }


_SHOWN_NAMES = (
    "id",
    "township",
    "level",
    "category",
    "title",
    "known_at",
    "opened_at",
    "acknowledged_at",
    "acknowledged_by",
)
_SHOWN = [incidents.c[name] for name in _SHOWN_NAMES]


def _shown(row: Any, owed: list[_Owed], now: datetime) -> dict[str, Any]:
    acknowledged = row.acknowledged_at is not None
    chips = _chips(acknowledged, owed, now)
    nxt = min(owed, key=lambda o: o.due_at, default=None)
    return {
        **{name: getattr(row, name) for name in _SHOWN_NAMES},  # plain str keys, for orjson
        "stage": _stage(acknowledged, owed),
        "chips": sorted(chips),
        "next_deadline": None
        if nxt is None
        else {"kind": nxt.kind, "what": OWED_ZH.get(DeadlineKind(nxt.kind)), "due_at": nxt.due_at},
        "overdue": "overdue" in chips,
    }


async def todo(conn: AsyncConnection, township: str, now: datetime) -> dict[str, Any]:
    """Everything `township` owes, by due time (overdue first), with returned items to revise and how
    many notices it has not read."""
    query = (
        select(
            deadlines.c.id,
            deadlines.c.kind,
            deadlines.c.seq,
            deadlines.c.due_at,
            deadlines.c.state,
            deadlines.c.context,
            deadlines.c.incident_id,
            incidents.c.title,
            incidents.c.level,
        )
        .outerjoin(incidents, incidents.c.id == deadlines.c.incident_id)
        .where(
            deadlines.c.township == township,
            deadlines.c.kind.in_([k.value for k in TOWNSHIP_OWES]),
            deadlines.c.state.in_(OWED),
        )
        .order_by(deadlines.c.due_at, deadlines.c.id)
    )
    owed = []
    for r in await conn.execute(query):
        kind = DeadlineKind(r.kind)
        what = OWED_ZH[kind]
        if kind is DeadlineKind.FOLLOWUP:
            what = f"第{r.seq}次续报"
        context = r.context or {}
        owed.append(
            {
                "deadline_id": r.id,
                "kind": r.kind,
                "what": what,
                "title": r.title or context.get("title"),
                "incident_id": r.incident_id,
                "level": r.level,
                "assignment_id": context.get("assignment_id"),
                "due_at": r.due_at,
                "overdue": r.due_at <= now,
                "state": r.state,
            }
        )
    owed.sort(key=lambda o: (not o["overdue"], o["due_at"]))
    returned = (
        await conn.execute(
            select(items.c.id, items.c.title, items.c.version, items.c.reason, items.c.decided_at)
            .where(items.c.township == township, items.c.status == "returned")
            .order_by(items.c.decided_at)
        )
    ).all()
    unread = (
        await conn.execute(
            select(func.count()).where(notice_reads.c.township == township, notice_reads.c.read_at.is_(None))
        )
    ).scalar_one()
    return {
        "township": township,
        "at": now,
        "owed": owed,
        "returned_items": [dict(r._mapping) for r in returned],
        "unread_notices": unread,
    }


# 续报跟踪: the reports townships owe on incidents after their first report.
FOLLOWED = (DeadlineKind.WRITTEN_REPORT, DeadlineKind.FOLLOWUP, DeadlineKind.FINAL_REPORT)


async def owed_reports(
    conn: AsyncConnection,
    now: datetime,
    *,
    township: str | None = None,
    kind: DeadlineKind | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The written, follow-up and final reports owed across townships, overdue first, then by due
    time; one page, ordered in SQL."""
    kinds = [kind.value] if kind is not None else [k.value for k in FOLLOWED]
    where: list[ColumnElement[bool]] = [
        deadlines.c.kind.in_(kinds),
        deadlines.c.state.in_(OWED),
        deadlines.c.incident_id.is_not(None),
    ]
    if township is not None:
        where.append(deadlines.c.township == township)
    query = (
        select(
            deadlines.c.id,
            deadlines.c.kind,
            deadlines.c.seq,
            deadlines.c.due_at,
            deadlines.c.state,
            deadlines.c.township,
            deadlines.c.incident_id,
            incidents.c.title,
            incidents.c.level,
            incidents.c.status,
        )
        .join(incidents, incidents.c.id == deadlines.c.incident_id)
        .where(*where)
        .order_by(case((deadlines.c.due_at <= now, 0), else_=1), deadlines.c.due_at, deadlines.c.id)
        .limit(limit)
        .offset(offset)
    )
    found = []
    for r in await conn.execute(query):
        what = OWED_ZH[DeadlineKind(r.kind)]
        if r.kind == DeadlineKind.FOLLOWUP.value:
            what = f"第{r.seq}次续报"
        found.append({**r._mapping, "what": what, "overdue": r.due_at <= now})
    return found
