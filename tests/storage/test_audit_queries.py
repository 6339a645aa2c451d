"""The auditors' queries against a real database: the review queue, status and other filters, cursor
pagination, totals and one entry's evidence.

The ledger below is 25 entries in three townships (城关镇 A, 梅林镇 B, 青山乡 C), written by hand so
that every expected count in this file can be checked by eye against it.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.audit import reviews
from alerting.audit.queries import EntryQuery, Sort, entry_detail, list_entries
from alerting.audit.reviews import Review
from alerting.audit.tallies import totals
from alerting.domain import DeadlineKind, EntryKind, EntryStatus, Level, ReviewDecision, Role, responsible_for
from alerting.errors import NotFound
from alerting.policy.model import Policy
from tests.storage.test_rule_reports import MIN, entries, report, store

A, B, C = "城关镇", "梅林镇", "青山乡"
HOUR = timedelta(hours=1)
# Microseconds on purpose: the cursor carries occurred_at and must round-trip through both backends.
BASE = datetime(2026, 3, 2, 1, 0, 0, 123456, tzinfo=UTC)  # Monday 09:00:00.123456 local
REVIEWED = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
AUDITOR = "纪检 王审计"

# The incidents the entries belong to, one per township and level (for the level filter).
INCIDENTS = {"inc-ii": (A, Level.II), "inc-iv": (B, Level.IV), "inc-iii": (C, Level.III)}

K = EntryKind
# n: (kind, township, incident); entry n occurred at BASE + hour(n) with hour(n) = 7n mod 9, so
# entries share their time in threes and time order is not id order.
LEDGER: list[tuple[EntryKind, str, str | None]] = [
    (K.LATE_REPORT, A, "inc-ii"),  # 0   h0
    (K.MISSING_REPORT, A, "inc-ii"),  # 1   h7
    (K.UNACKNOWLEDGED, A, "inc-ii"),  # 2   h5  (duty_officer)
    (K.FOLLOWUP_OVERDUE, A, "inc-ii"),  # 3   h3
    (K.LATE_REPORT, B, "inc-iv"),  # 4   h1
    (K.ERRONEOUS_REPORT, B, "inc-iv"),  # 5   h8
    (K.UNACKNOWLEDGED, B, "inc-iv"),  # 6   h6  (duty_officer)
    (K.FORWARD_OVERDUE, B, "inc-iv"),  # 7   h4  (county_office)
    (K.CONCEALMENT_SUSPECTED, C, "inc-iii"),  # 8   h2
    (K.LATE_REPORT, C, "inc-iii"),  # 9   h0
    (K.SILENT_UNIT, C, None),  # 10  h7
    (K.UNACKNOWLEDGED, C, "inc-iii"),  # 11  h5  (duty_officer)
    (K.LATE_REPORT, A, "inc-ii"),  # 12  h3
    (K.FOLLOWUP_OVERDUE, A, "inc-ii"),  # 13  h1
    (K.MISSING_REPORT, B, "inc-iv"),  # 14  h8
    # --- the reviews below are written here, so their ids fall between the entries' ---
    (K.LATE_REPORT, B, "inc-iv"),  # 15  h6
    (K.SILENT_UNIT, A, None),  # 16  h4
    (K.PERIODIC_OVERDUE, B, None),  # 17  h2
    (K.LATE_REPORT, C, "inc-iii"),  # 18  h0
    (K.ERRONEOUS_REPORT, A, "inc-ii"),  # 19  h7
    (K.UNACKNOWLEDGED, A, "inc-ii"),  # 20  h5  (duty_officer)
    (K.GOOD_NEWS_ONLY, C, None),  # 21  h3
    (K.FOLLOWUP_OVERDUE, B, "inc-iv"),  # 22  h1
    (K.LATE_REPORT, A, "inc-ii"),  # 23  h8
    (K.MISSING_REPORT, C, "inc-iii"),  # 24  h6
]
FIRST_HALF = 15

CONFIRM = Review(ReviewDecision.CONFIRM, "核实属实")
WAIVE = Review(ReviewDecision.WAIVE, "情况特殊，免责")
# n: its reviews, oldest first. The latest decides: confirmed 0, 4, 8, 14; waived 1, 6, 12.
REVIEWS: dict[int, list[Review]] = {
    0: [CONFIRM],
    1: [WAIVE],
    4: [Review(ReviewDecision.RECLASSIFY, "实为漏报", "missing_report")],
    6: [WAIVE],
    8: [Review(ReviewDecision.RECLASSIFY, "核实为瞒报", "concealment")],
    12: [CONFIRM, WAIVE],
    14: [WAIVE, CONFIRM],
}
UNREVIEWED = [n for n in range(len(LEDGER)) if n not in REVIEWS]  # 18 entries


def hour(n: int) -> int:
    return (7 * n) % 9


def occurred(n: int) -> datetime:
    return BASE + hour(n) * HOUR


def responsible(kind: EntryKind, township: str) -> str:
    """As the engine assigns it: the duty officer signs for, the county office forwards."""
    if kind is K.UNACKNOWLEDGED:
        return responsible_for(DeadlineKind.ACK, township)
    if kind is K.FORWARD_OVERDUE:
        return responsible_for(DeadlineKind.FORWARD_PHONE, township)
    return township


class Ledger:
    """The ledger as written: entry ids by n, and the ids of the reviews."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.ids: list[int] = []
        self.review_ids: list[int] = []

    def of(self, *ns: int) -> list[int]:
        return [self.ids[n] for n in ns]

    async def list(self, q: EntryQuery, **kwargs: Any) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            page = await list_entries(conn, q, **kwargs)
        assert page.next_cursor is None, "use pages() for more than one page"
        return page.entries

    async def listed_ids(self, q: EntryQuery) -> list[int]:
        return [e["id"] for e in await self.list(q)]

    async def totals(self, q: EntryQuery) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            return await totals(conn, q)


async def _append(engine: AsyncEngine, n: int) -> int:
    kind, township, incident_id = LEDGER[n]
    async with engine.begin() as conn:
        return await append(
            conn,
            NewEntry(
                kind=kind,
                township=township,
                responsible=responsible(kind, township),
                occurred_at=occurred(n),
                incident_id=incident_id,
                details={"n": n},
            ),
            BASE + n * MIN,
        )


@pytest.fixture
async def ledger(engine: AsyncEngine, policy: Policy) -> Ledger:
    for incident_id, (township, level) in INCIDENTS.items():
        await store(engine, policy, report(incident_id, township=township, level=level))  # on time
    assert await entries(engine) == []
    book = Ledger(engine)
    for n in range(FIRST_HALF):
        book.ids.append(await _append(engine, n))
    for n, decisions in REVIEWS.items():
        for m, decision in enumerate(decisions):
            async with engine.begin() as conn:
                at = REVIEWED + m * HOUR
                book.review_ids.append(
                    await reviews.review(conn, book.ids[n], decision, AUDITOR, at, role=Role.AUDITOR)
                )
    for n in range(FIRST_HALF, len(LEDGER)):
        book.ids.append(await _append(engine, n))
    assert max(book.review_ids) < book.ids[FIRST_HALF]
    return book


# --- the review queue and status filters ---------------------------------------------------------


async def test_the_queue_lists_exactly_the_unreviewed_entries(ledger: Ledger) -> None:
    pending = await ledger.listed_ids(EntryQuery(status=EntryStatus.PENDING))
    assert pending == ledger.of(*UNREVIEWED)
    assert len(pending) == 18
    assert not set(pending) & set(ledger.review_ids)

    shown = await ledger.list(EntryQuery(status=EntryStatus.PENDING))
    assert {(e["status"], e["finding"], e["latest_review_id"]) for e in shown} == {("pending", None, None)}


async def test_reviews_themselves_are_never_listed(ledger: Ledger) -> None:
    everything = await ledger.list(EntryQuery(), limit=1000)
    assert [e["id"] for e in everything] == ledger.ids
    assert "review" not in {e["kind"] for e in everything}
    assert await ledger.listed_ids(EntryQuery(kind="review")) == []


async def test_a_reviewed_entry_leaves_the_queue(ledger: Ledger) -> None:
    async with ledger.engine.begin() as conn:
        await reviews.review(conn, ledger.ids[24], CONFIRM, AUDITOR, REVIEWED, role=Role.AUDITOR)
    pending = await ledger.listed_ids(EntryQuery(status=EntryStatus.PENDING))
    assert pending == ledger.of(*UNREVIEWED[:-1])


async def test_confirmed_and_waived_follow_the_latest_review(ledger: Ledger) -> None:
    confirmed = await ledger.list(EntryQuery(status=EntryStatus.CONFIRMED))
    assert [e["id"] for e in confirmed] == ledger.of(0, 4, 8, 14)
    # 4 and 8 were reclassified; 14 was waived first, then confirmed.
    assert [e["finding"] for e in confirmed] == [
        "late_report",
        "missing_report",
        "concealment",
        "missing_report",
    ]

    waived = await ledger.list(EntryQuery(status=EntryStatus.WAIVED))
    assert [e["id"] for e in waived] == ledger.of(1, 6, 12)  # 12 was confirmed first, then waived
    assert {(e["status"], e["finding"]) for e in waived} == {("waived", None)}


async def test_auto_confirmed_kinds_count_as_confirmed_unless_waived(ledger: Ledger) -> None:
    auto = frozenset({K.UNACKNOWLEDGED.value})
    # unacknowledged entries: 2, 11, 20 never reviewed; 6 waived.
    confirmed = await ledger.list(EntryQuery(status=EntryStatus.CONFIRMED, auto_confirm=auto))
    assert [e["id"] for e in confirmed] == ledger.of(0, 2, 4, 8, 11, 14, 20)
    assert [(e["status"], e["finding"]) for e in confirmed if e["kind"] == "unacknowledged"] == [
        ("confirmed", "unacknowledged")
    ] * 3

    pending = await ledger.listed_ids(EntryQuery(status=EntryStatus.PENDING, auto_confirm=auto))
    assert pending == ledger.of(*(n for n in UNREVIEWED if n not in (2, 11, 20)))
    waived = await ledger.listed_ids(EntryQuery(status=EntryStatus.WAIVED, auto_confirm=auto))
    assert waived == ledger.of(1, 6, 12)

    # Without a status filter the derived status is the same.
    shown = {e["id"]: e["status"] for e in await ledger.list(EntryQuery(auto_confirm=auto), limit=1000)}
    assert [shown[i] for i in ledger.of(2, 6, 11, 20)] == ["confirmed", "waived", "confirmed", "confirmed"]


async def test_auto_confirm_as_the_policy_gives_it(ledger: Ledger, policy: Policy) -> None:
    scoring = policy.scoring.model_copy(update={"auto_confirm": (K.UNACKNOWLEDGED, K.FORWARD_OVERDUE)})
    auto = frozenset(scoring.auto_confirm)  # EntryKind members, as the API and the bulletins pass them
    confirmed = await ledger.listed_ids(EntryQuery(status=EntryStatus.CONFIRMED, auto_confirm=auto))
    assert confirmed == ledger.of(0, 2, 4, 7, 8, 11, 14, 20)


# --- other filters -------------------------------------------------------------------------------


async def test_filter_by_township_kind_and_level(ledger: Ledger) -> None:
    assert await ledger.listed_ids(EntryQuery(township=B)) == ledger.of(4, 5, 6, 7, 14, 15, 17, 22)
    assert await ledger.listed_ids(EntryQuery(kind="late_report")) == ledger.of(0, 4, 9, 12, 15, 18, 23)
    # Level comes from the incident: entries without one (silent_unit 16, periodic 17) have none.
    assert await ledger.listed_ids(EntryQuery(level="II")) == ledger.of(0, 1, 2, 3, 12, 13, 19, 20, 23)
    assert await ledger.listed_ids(EntryQuery(level="IV")) == ledger.of(4, 5, 6, 7, 14, 15, 22)
    assert await ledger.listed_ids(EntryQuery(level="I")) == []
    # Combined: A's late reports still pending (0 is confirmed, 12 waived).
    combined = EntryQuery(township=A, kind="late_report", status=EntryStatus.PENDING)
    assert await ledger.listed_ids(combined) == ledger.of(23)


async def test_since_is_inclusive_and_until_exclusive(ledger: Ledger) -> None:
    # Hours 3, 4 and 5: entries 3, 12, 21 (h3), 7, 16 (h4), 2, 11, 20 (h5); h6 (6, 15, 24) is out.
    window = EntryQuery(since=BASE + 3 * HOUR, until=BASE + 6 * HOUR)
    assert await ledger.listed_ids(window) == ledger.of(2, 3, 7, 11, 12, 16, 20, 21)
    # One microsecond later excludes h3; one earlier includes nothing more (no entry in between).
    later = EntryQuery(since=BASE + 3 * HOUR + timedelta(microseconds=1), until=BASE + 6 * HOUR)
    assert await ledger.listed_ids(later) == ledger.of(2, 7, 11, 16, 20)
    assert await ledger.listed_ids(EntryQuery(until=BASE)) == []
    assert await ledger.listed_ids(EntryQuery(since=BASE + 8 * HOUR)) == ledger.of(5, 14, 23)


async def test_since_and_until_in_another_zone_mean_the_same_instant(ledger: Ledger) -> None:
    local = ZoneInfo("Asia/Shanghai")
    window = EntryQuery(since=(BASE + 8 * HOUR).astimezone(local), until=(BASE + 9 * HOUR).astimezone(local))
    assert await ledger.listed_ids(window) == ledger.of(5, 14, 23)


# --- sorting and cursor pagination ---------------------------------------------------------------

# occurred_at descending, ties by id descending (hour: entries, as in LEDGER).
NEWEST_FIRST = [
    *(23, 14, 5),  # h8
    *(19, 10, 1),  # h7
    *(24, 15, 6),  # h6   <- the first page ends inside this group
    *(20, 11, 2),  # h5
    *(16, 7),  # h4
    *(21, 12, 3),  # h3
    *(17, 8),  # h2
    *(22, 13, 4),  # h1   <- the third page ends inside this group
    *(18, 9, 0),  # h0
]


async def pages(
    ledger: Ledger, q: EntryQuery, *, limit: int, sort: Sort, descending: bool
) -> list[list[dict[str, Any]]]:
    found: list[list[dict[str, Any]]] = []
    cursor = None
    async with ledger.engine.connect() as conn:
        while True:
            page = await list_entries(conn, q, sort=sort, descending=descending, cursor=cursor, limit=limit)
            found.append(page.entries)
            if page.next_cursor is None:
                return found
            assert len(found) < 100, "pagination does not end"
            cursor = page.next_cursor


async def test_newest_first_in_pages_of_seven_lists_every_entry_once(ledger: Ledger) -> None:
    assert sorted(NEWEST_FIRST) == list(range(25))
    got = await pages(ledger, EntryQuery(), limit=7, sort="occurred_at", descending=True)

    assert [len(p) for p in got] == [7, 7, 7, 4]
    ids = [e["id"] for p in got for e in p]
    assert ids == ledger.of(*NEWEST_FIRST)
    assert len(set(ids)) == 25
    assert [e["occurred_at"] for p in got for e in p] == [occurred(n) for n in NEWEST_FIRST]


async def test_oldest_first_pages_are_the_reverse(ledger: Ledger) -> None:
    got = await pages(ledger, EntryQuery(), limit=7, sort="occurred_at", descending=False)
    assert [e["id"] for p in got for e in p] == ledger.of(*reversed(NEWEST_FIRST))


async def test_pages_by_id_of_a_filtered_queue(ledger: Ledger) -> None:
    queue = EntryQuery(status=EntryStatus.PENDING)
    ascending = await pages(ledger, queue, limit=5, sort="id", descending=False)
    assert [len(p) for p in ascending] == [5, 5, 5, 3]
    assert [e["id"] for p in ascending for e in p] == ledger.of(*UNREVIEWED)
    descending = await pages(ledger, queue, limit=5, sort="id", descending=True)
    assert [e["id"] for p in descending for e in p] == ledger.of(*reversed(UNREVIEWED))


async def test_an_exact_last_page_has_no_next_cursor(ledger: Ledger) -> None:
    got = await pages(ledger, EntryQuery(township=C), limit=7, sort="occurred_at", descending=True)
    assert [len(p) for p in got] == [7]


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    ("cursor", "sort"),
    [
        ("not a cursor!", "occurred_at"),
        (base64.urlsafe_b64encode(b"not json").decode(), "occurred_at"),
        (_cursor([1]), "id"),
        (_cursor({"at": 1}), "id"),
        (_cursor(5), "id"),
        (_cursor(["yesterday", 3]), "occurred_at"),
        (_cursor([12, 3]), "occurred_at"),  # an id cursor given to the occurred_at sort
        (_cursor(["twelve", 3]), "id"),
        (_cursor(["2026-03-02T01:00:00+00:00", "x"]), "occurred_at"),
    ],
)
async def test_a_bad_cursor_raises_value_error(ledger: Ledger, cursor: str, sort: Sort) -> None:
    async with ledger.engine.connect() as conn:
        with pytest.raises(ValueError, match="cursor is not valid"):
            await list_entries(conn, EntryQuery(), sort=sort, cursor=cursor, limit=7)


async def test_a_cursor_without_a_time_zone_raises_value_error(ledger: Ledger) -> None:
    async with ledger.engine.connect() as conn:
        with pytest.raises(ValueError, match="cursor is not valid"):
            await list_entries(
                conn, EntryQuery(), sort="occurred_at", cursor=_cursor(["2026-03-02T05:00:00", 3]), limit=7
            )


# --- totals --------------------------------------------------------------------------------------


async def test_totals_per_township_and_kind(ledger: Ledger) -> None:
    # Counted by hand from LEDGER; the 9 reviews are not entries of their own.
    assert await ledger.totals(EntryQuery()) == {
        "total": 25,
        "by_township": {A: 10, B: 8, C: 7},
        "by_kind": {
            "late_report": 7,  # 0 4 9 12 15 18 23
            "missing_report": 3,  # 1 14 24
            "unacknowledged": 4,  # 2 6 11 20
            "followup_overdue": 3,  # 3 13 22
            "erroneous_report": 2,  # 5 19
            "silent_unit": 2,  # 10 16
            "forward_overdue": 1,  # 7
            "concealment_suspected": 1,  # 8
            "periodic_overdue": 1,  # 17
            "good_news_only": 1,  # 21
        },
    }


async def test_totals_follow_the_filters(ledger: Ledger) -> None:
    # Pending: A 2 3 13 16 19 20 23, B 5 7 15 17 22, C 9 10 11 18 21 24.
    pending = await ledger.totals(EntryQuery(status=EntryStatus.PENDING))
    assert (pending["total"], pending["by_township"]) == (18, {A: 7, B: 5, C: 6})
    assert pending["by_kind"]["late_report"] == 4  # 9 15 18 23

    confirmed_a = await ledger.totals(EntryQuery(status=EntryStatus.CONFIRMED, township=A))
    assert confirmed_a == {"total": 1, "by_township": {A: 1}, "by_kind": {"late_report": 1}}
    assert await ledger.totals(EntryQuery(level="I")) == {"total": 0, "by_township": {}, "by_kind": {}}


# --- one entry and its evidence ------------------------------------------------------------------


async def test_entry_detail_has_its_evidence_and_reviews_oldest_first(
    engine: AsyncEngine, policy: Policy
) -> None:
    # Level II: first report due 15m after known_at; this one arrives 20m after -> late by 5m.
    late = report("inc-9", township=B, reported_at=BASE + 20 * MIN)
    await store(engine, policy, late)
    [entry] = await entries(engine, K.LATE_REPORT)
    decisions = [CONFIRM, WAIVE, Review(ReviewDecision.RECLASSIFY, "实为漏报", "missing_report")]
    review_ids = []
    for m, decision in enumerate(decisions):
        async with engine.begin() as conn:
            review_ids.append(
                await reviews.review(
                    conn, entry.id, decision, AUDITOR, REVIEWED + m * HOUR, role=Role.AUDITOR
                )
            )

    async with engine.connect() as conn:
        shown = await entry_detail(conn, entry.id, frozenset())

    assert (shown["id"], shown["kind"], shown["township"], shown["level"]) == (
        entry.id,
        "late_report",
        B,
        "II",
    )
    assert (shown["status"], shown["finding"], shown["latest_review_id"]) == (
        "confirmed",
        "missing_report",
        review_ids[-1],
    )
    assert shown["incident_title"] == late.title
    evidence = shown["evidence"]
    assert set(evidence) == {"incident", "report", "deadline"}
    assert (evidence["incident"]["id"], evidence["incident"]["level"]) == ("inc-9", "II")
    assert (evidence["report"]["report_id"], evidence["report"]["reported_at"]) == (
        late.report_id,
        late.reported_at,
    )
    deadline = evidence["deadline"]
    assert (deadline["id"], deadline["kind"], deadline["due_at"]) == (
        entry.deadline_id,
        "first_report",
        late.known_at + 15 * MIN,
    )
    assert [r["id"] for r in shown["reviews"]] == review_ids
    assert [r["details"]["decision"] for r in shown["reviews"]] == ["confirm", "waive", "reclassify"]
    assert [r["details"]["status_before"] for r in shown["reviews"]] == ["pending", "confirmed", "waived"]


async def test_entry_detail_without_incident_report_or_deadline(ledger: Ledger) -> None:
    async with ledger.engine.connect() as conn:
        shown = await entry_detail(conn, ledger.ids[17], frozenset())  # periodic_overdue, no incident
    assert (shown["kind"], shown["status"], shown["level"]) == ("periodic_overdue", "pending", None)
    assert (shown["evidence"], shown["reviews"]) == ({}, [])


async def test_entry_detail_status_follows_auto_confirm(ledger: Ledger) -> None:
    async with ledger.engine.connect() as conn:
        shown = await entry_detail(conn, ledger.ids[2], frozenset({"unacknowledged"}))
    assert (shown["status"], shown["finding"], shown["responsible"]) == (
        "confirmed",
        "unacknowledged",
        "duty_officer",
    )
    assert shown["evidence"]["incident"]["id"] == "inc-ii"


async def test_entry_detail_of_a_missing_entry_is_not_found(ledger: Ledger) -> None:
    async with ledger.engine.connect() as conn:
        with pytest.raises(NotFound):
            await entry_detail(conn, 10_000, frozenset())
