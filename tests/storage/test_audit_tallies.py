"""The set-based counts (one GROUP BY with the latest reviews joined once) against the entries listed
one by one, on the hand-written ledger of test_audit_queries: every filter and period, both backends.
The period's id bounds that id-ordered pages use must not change which entries are listed either."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from alerting.audit.queries import EntryQuery, list_entries
from alerting.audit.tallies import confirmed_entries, count, tallies, totals
from alerting.domain import EntryStatus
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
