"""accountability_review_state: each reviewed entry's latest review, written by the log's trigger
(migration 0019) and filled from the log by the migration; the status filters and counts read it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.domain import EntryKind
from alerting.storage.engine import alembic_config
from alerting.storage.schema import accountability_review_state as review_state
from tests.storage.test_audit_queries import REVIEWS, Ledger, ledger

__all__ = ["ledger"]  # the fixture, imported for pytest


async def _state(book: Ledger) -> dict[int, tuple[int, str, str | None]]:
    async with book.engine.connect() as conn:
        rows = await conn.execute(select(review_state).order_by(review_state.c.entry_id))
        return {r.entry_id: (r.review_id, r.decision, r.finding) for r in rows}


def _expected(book: Ledger) -> dict[int, tuple[int, str, str | None]]:
    """From the ledger as written: the latest of each entry's reviews, in the order they were made."""
    expected = {}
    review_ids = iter(book.review_ids)
    for n, decisions in REVIEWS.items():
        for decision in decisions:
            expected[book.ids[n]] = (next(review_ids), decision.decision.value, decision.to)
    return expected


async def test_the_trigger_keeps_each_entrys_latest_review_exactly(ledger: Ledger) -> None:
    state = await _state(ledger)
    assert state == _expected(ledger)
    # Two reviews of entry 12 (confirm, then waive) and of 14 (waive, then confirm): the later one.
    assert state[ledger.ids[12]][1:] == ("waive", None) and state[ledger.ids[14]][1:] == ("confirm", None)
    assert state[ledger.ids[8]][1:] == ("reclassify", "concealment")


async def test_the_migration_fills_it_from_the_log_as_the_trigger_would(
    ledger: Ledger, database_url: str
) -> None:
    before = await _state(ledger)
    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0018")
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await _state(ledger) == before == _expected(ledger)


async def test_a_review_without_a_decision_is_appended_and_changes_no_status(ledger: Ledger) -> None:
    """The table is derived: whatever the log accepts, its trigger must not refuse."""
    before = await _state(ledger)
    reviewed = ledger.ids[12]
    async with ledger.engine.begin() as conn:
        new_id = await append(
            conn,
            NewEntry(
                kind=EntryKind.REVIEW,
                township=None,
                responsible="auditor",
                occurred_at=datetime(2026, 3, 1, 8, tzinfo=UTC),
                refers_to=reviewed,
                details={"note": "审核意见另行送达" * 10},
            ),
            datetime(2026, 3, 1, 8, 0, 2, tzinfo=UTC),
        )
    assert new_id > max(ledger.ids)
    assert await _state(ledger) == before
