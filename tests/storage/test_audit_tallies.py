"""The set-based counts (one GROUP BY with the latest reviews joined once) against the entries listed
one by one, on the hand-written ledger of test_audit_queries: every filter and period, both backends.
The period's id bounds that id-ordered pages use must not change which entries are listed either."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.audit.bulletins import CRITICISED
from alerting.audit.queries import EntryQuery, list_entries
from alerting.audit.tallies import confirmed_entries, count, tallies, totals
from alerting.domain import EntryKind, EntryStatus
from tests.storage.test_audit_queries import BASE, HOUR, Ledger, ledger, occurred

__all__ = ["ledger"]  # the fixture, imported for pytest

A, B, C = "城关镇", "梅林镇", "青山乡"
# Periods cutting the ledger's nine hours in various places, and none at all.
PERIODS = [(None, None), (BASE, None), (None, BASE + 4 * HOUR), (BASE + 2 * HOUR, BASE + 6 * HOUR)]
PERIODS += [(BASE + 3 * HOUR, BASE + 3 * HOUR + timedelta(microseconds=1)), (BASE + 20 * HOUR, None)]
AUTO = [frozenset(), frozenset({"late_report", "silent_unit"})]


async def _all(book: Ledger, q: EntryQuery, sort: str = "id") -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = []
    cursor = None
    async with book.engine.connect() as conn:
        while True:
            page = await list_entries(conn, q, sort=sort, cursor=cursor, limit=4)  # type: ignore[arg-type]
            shown += page.entries
            if page.next_cursor is None:
                return shown
            cursor = page.next_cursor


@pytest.mark.parametrize("auto", AUTO)
@pytest.mark.parametrize("since,until", PERIODS)
async def test_totals_equal_the_entries_counted_one_by_one(
    ledger: Ledger, since: Any, until: Any, auto: Any
) -> None:
    for status in [None, *EntryStatus]:
        for township in [None, A, B, C]:
            q = EntryQuery(township=township, status=status, since=since, until=until, auto_confirm=auto)
            listed = await _all(ledger, q)
            async with ledger.engine.connect() as conn:
                counted = await totals(conn, q)
                assert await count(conn, q) == len(listed)
            assert counted["total"] == len(listed)
            assert counted["by_kind"] == dict(Counter(e["kind"] for e in listed))
            assert counted["by_township"] == dict(Counter(e["township"] or "" for e in listed))


@pytest.mark.parametrize("auto", AUTO)
@pytest.mark.parametrize("since,until", PERIODS)
async def test_tallies_and_confirmed_entries_judge_as_the_listing_does(
    ledger: Ledger, since: Any, until: Any, auto: Any
) -> None:
    q = EntryQuery(since=since, until=until, auto_confirm=auto)
    listed = await _all(ledger, q)
    expected = Counter(
        (e["township"], e["kind"], e["responsible"] == e["township"], e["status"], e["finding"])
        for e in listed
    )
    async with ledger.engine.connect() as conn:
        found = {
            (t.township, t.kind, t.own, t.status.value, t.finding): t.count for t in await tallies(conn, q)
        }
        confirmed = await confirmed_entries(conn, q)
    assert found == dict(expected)
    own_confirmed = [e for e in listed if e["status"] == "confirmed" and e["responsible"] == e["township"]]
    assert [(e["id"], e["finding"]) for e in confirmed] == [(e["id"], e["finding"]) for e in own_confirmed]
    assert all(
        e["incident_title"] == o["incident_title"] for e, o in zip(confirmed, own_confirmed, strict=True)
    )
    # Filtered in the database by finding, as a bulletin's 点名批评 asks: exactly the listing's.
    for findings in (CRITICISED, {"concealment"}, {"late_report", "unacknowledged"}, set()):
        async with ledger.engine.connect() as conn:
            chosen = await confirmed_entries(conn, q, findings=findings)
        assert [(e["id"], e["finding"]) for e in chosen] == [
            (e["id"], e["finding"]) for e in own_confirmed if e["finding"] in findings
        ]


@pytest.mark.parametrize("since,until", PERIODS[1:])
async def test_id_bounds_list_the_same_entries_as_the_period_alone(
    ledger: Ledger, since: Any, until: Any
) -> None:
    # By time order nothing is bounded: the same rows must come back, in id order, by either sort.
    q = EntryQuery(since=since, until=until)
    by_id = [e["id"] for e in await _all(ledger, q)]
    by_time = sorted(e["id"] for e in await _all(ledger, q, sort="occurred_at"))
    everything = await _all(ledger, EntryQuery())
    in_period = [
        e["id"]
        for e in everything
        if (since is None or e["occurred_at"] >= since) and (until is None or e["occurred_at"] < until)
    ]
    assert by_id == by_time == in_period
    assert occurred(0) == BASE  # the ledger starts at BASE, so the periods above cut it as meant


# Entries appended in this order, each occurring at the time given: around UTC midnight, one found
# and recorded forty days late, one just before a day ends; recorded_at is always now.
SPREAD = [
    datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
    datetime(2026, 4, 11, 16, 0, tzinfo=UTC),  # 2026-04-12 00:00 at +08:00
    datetime(2026, 3, 2, 12, 0, tzinfo=UTC),  # recorded after April's entry: ids out of time order
    datetime(2026, 1, 20, 8, 0, tzinfo=UTC),  # forty days before the first
    datetime(2026, 4, 12, 15, 59, 59, tzinfo=UTC),
]
EAST8 = timezone(timedelta(hours=8))
SPREAD_PERIODS = [
    (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)),
    (datetime(2026, 3, 2, 8, tzinfo=EAST8), None),  # 2026-03-02 00:00 UTC
    (None, datetime(2026, 3, 2, tzinfo=UTC)),
    (datetime(2026, 4, 12, tzinfo=EAST8), datetime(2026, 4, 13, tzinfo=EAST8)),
    (datetime(2026, 1, 1, tzinfo=EAST8), datetime(2026, 2, 1, tzinfo=EAST8)),
    (datetime(2026, 5, 1, tzinfo=UTC), None),
]


@pytest.fixture
async def spread(engine: AsyncEngine) -> list[int]:
    ids = []
    for n, at in enumerate(SPREAD):
        entry = NewEntry(EntryKind.LATE_REPORT, A, A, at, incident_id=None, details={"n": n})
        async with engine.begin() as conn:
            ids.append(await append(conn, entry, datetime(2026, 4, 20, tzinfo=UTC) + timedelta(seconds=n)))
    return ids


@pytest.mark.parametrize("since,until", SPREAD_PERIODS)
async def test_a_periods_bounds_hold_entries_recorded_late_and_on_the_edges_of_days(
    engine: AsyncEngine, spread: list[int], since: Any, until: Any
) -> None:
    """The days a period overlaps bound its ids (accountability_entry_days, kept by a trigger):
    pages, counts and totals find every entry of the period however late it was recorded."""
    expected = [
        i
        for i, at in zip(spread, SPREAD, strict=True)
        if (since is None or at >= since) and (until is None or at < until)
    ]
    q = EntryQuery(since=since, until=until)
    book = Ledger(engine)
    assert [e["id"] for e in await _all(book, q)] == expected
    assert sorted(e["id"] for e in await _all(book, q, sort="occurred_at")) == expected
    async with engine.connect() as conn:
        assert await count(conn, q) == len(expected)
        assert (await totals(conn, q))["total"] == len(expected)
        assert await count(conn, EntryQuery(since=since, until=until, status=EntryStatus.PENDING)) == len(
            expected
        )
