"""The accountability hash chain as a verifier sees it: rows read back must re-hash to their stored hash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accountability.append import append
from alerting.accountability.chain import GENESIS_HASH, NewEntry, content_of, entry_hash
from alerting.domain import EntryKind, Level, ReportType
from alerting.policy.model import Policy
from alerting.storage.schema import accountability_entries as entries
from consumers.intake import store_report
from escalation.engine import fire_due
from tests.storage.factories import T0, make_report
from tests.support import firing_for

ENTRIES = [
    NewEntry(
        kind=EntryKind.LATE_REPORT,
        township="城关镇",
        responsible="城关镇",
        occurred_at=T0,
        incident_id="inc-1",
        report_id="r-1",
        deadline_id=7,
        delay_seconds=90,
        details={"deadline": "first_report", "说明": "首报迟报", "nested": {"b": [1, 2.5, None], "a": True}},
    ),
    NewEntry(
        kind=EntryKind.UNACKNOWLEDGED,
        township="河口镇",
        responsible="duty_officer",
        occurred_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),  # no microseconds
        incident_id="inc-2",
        deadline_id=2**40,
    ),
    NewEntry(kind=EntryKind.REVIEW, township=None, responsible="auditor", occurred_at=T0, refers_to=1),
]


def _recomputed(row: Any) -> str:
    """What a verifier computes from a stored row alone."""
    return entry_hash(content_of(row))


async def _chain(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(entries).order_by(entries.c.id))).all())


def _assert_unbroken(rows: list[Any]) -> None:
    assert rows, "no entries"
    assert rows[0].prev_hash == GENESIS_HASH
    for before, after in pairwise(rows):
        assert after.prev_hash == before.hash, f"entry {after.id} does not follow entry {before.id}"
    assert len({r.prev_hash for r in rows}) == len(rows), "the chain forked"
    for row in rows:
        assert _recomputed(row) == row.hash, f"entry {row.id} does not verify"


async def test_appended_entries_form_a_verifiable_chain(engine: AsyncEngine) -> None:
    ids = []
    for n, entry in enumerate(ENTRIES):
        async with engine.begin() as conn:
            ids.append(await append(conn, entry, T0 + timedelta(seconds=n, microseconds=n)))

    rows = await _chain(engine)
    assert [r.id for r in rows] == ids
    assert [r.kind for r in rows] == [e.kind.value for e in ENTRIES]
    assert rows[0].details == ENTRIES[0].details
    _assert_unbroken(rows)


async def test_entries_written_by_intake_and_firing_verify(engine: AsyncEngine, policy: Policy) -> None:
    rules = policy.levels[Level.II]
    late_first = make_report(reported_at=T0 + rules.first_report + timedelta(seconds=42, microseconds=7))
    async with engine.begin() as conn:
        await store_report(conn, late_first, policy, late_first.reported_at)
    written = make_report(
        type_=ReportType.WRITTEN, reported_at=T0 + rules.written_report + timedelta(minutes=1)
    )
    async with engine.begin() as conn:
        await store_report(conn, written, policy, written.reported_at)
        await fire_due(conn, firing_for(policy), written.reported_at)  # the ack deadline has passed

    rows = await _chain(engine)
    assert [r.kind for r in rows] == ["late_report", "late_report", "unacknowledged"]
    _assert_unbroken(rows)


async def test_concurrent_appends_form_one_chain(engine: AsyncEngine) -> None:
    async def append_one(n: int) -> int:
        entry = NewEntry(
            kind=EntryKind.SILENT_UNIT,
            township=f"镇{n}",
            responsible=f"镇{n}",
            occurred_at=T0,
            details={"n": n},
        )
        async with engine.begin() as conn:
            return await append(conn, entry, T0 + timedelta(microseconds=n))

    ids = await asyncio.gather(*(append_one(n) for n in range(20)))

    rows = await _chain(engine)
    assert sorted(ids) == [r.id for r in rows]
    assert sorted(r.details["n"] for r in rows) == list(range(20))
    _assert_unbroken(rows)


async def test_entry_with_non_utc_times_still_verifies(engine: AsyncEngine) -> None:
    east8 = timezone(timedelta(hours=8))
    entry = NewEntry(
        kind=EntryKind.REVIEW, township="城关镇", responsible="auditor", occurred_at=T0.astimezone(east8)
    )
    async with engine.begin() as conn:
        await append(conn, entry, T0.astimezone(east8))
    _assert_unbroken(await _chain(engine))
