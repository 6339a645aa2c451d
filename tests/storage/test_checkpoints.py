"""Checkpoints recorded in the log and verification that goes on from them, on both backends: the
entry a checkpoint is, what a run since it catches and what only a full run catches, its head
removed or altered, and checkpoints kept out of everything auditors count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accountability import scan, scan_pg
from alerting.accountability.chain import content_of, entry_hash
from alerting.accountability.checkpoints import (
    latest_checkpoint,
    latest_full_checkpoint_at,
    record_checkpoint,
)
from alerting.accountability.digest import Batch, Stop
from alerting.accountability.verify import ChainReport, verify_chain
from alerting.audit import bulletins, reviews
from alerting.audit.bulletins import parse_period
from alerting.audit.queries import EntryQuery, entry_detail, list_entries
from alerting.audit.tallies import totals
from alerting.domain import ReviewDecision, Role
from alerting.errors import ConflictError
from alerting.policy.model import Policy
from alerting.storage.schema import accountability_entries as entries
from tests.storage.test_verify import T0, behind_the_back, stored, write_chain

NOW = datetime(2026, 3, 3, 4, 5, 6, 789012, tzinfo=UTC)


async def verify(engine: AsyncEngine, since: bool = False, batch: int = scan.SEGMENT) -> ChainReport:
    async with engine.connect() as conn:
        return await verify_chain(conn, batch, since_checkpoint=since)


async def checkpoint(engine: AsyncEngine, since: bool = False, at: datetime = NOW) -> tuple[ChainReport, int]:
    """Verify, then record the checkpoint of that run, as `alerting audit verify` does."""
    report = await verify(engine, since)
    assert report.intact, report
    async with engine.begin() as conn:
        return report, await record_checkpoint(conn, report, at)


async def forge_details(engine: AsyncEngine, row: Any, rehash: bool = False) -> None:
    """Change an entry's details behind the service's back; `rehash`: its hash too, as a careful
    forger would (the next entry's link then gives it away)."""
    forged = {**row.details, "n": 99}
    values: dict[str, Any] = {"details": forged}
    if rehash:
        values["hash"] = entry_hash({**content_of(row), "details": forged})
    await behind_the_back(engine, entries.update().where(entries.c.id == row.id).values(**values))


async def test_a_checkpoint_is_exactly_this_entry(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    report, entry_id = await checkpoint(engine)
    assert report == ChainReport(5, True, last_hash=rows[-1].hash, verified_through=rows[-1].id)

    row = (await stored(engine))[-1]
    assert row.id == entry_id == rows[-1].id + 1
    assert dict(row._mapping) == {
        "id": entry_id,
        "kind": "checkpoint",
        "township": None,
        "incident_id": None,
        "report_id": None,
        "deadline_id": None,
        "refers_to": None,
        "responsible": "system",
        "occurred_at": NOW,
        "recorded_at": NOW,
        "delay_seconds": None,
        "details": {
            "verified_through": rows[-1].id,
            "verified_hash": rows[-1].hash,
            "entries_checked": 5,
            "scope": "full",
            "since": None,
        },
        "prev_hash": rows[-1].hash,
        "hash": entry_hash(content_of(row)),
    }

    # The next run goes on from it: it walks the checkpoint entry itself and nothing before.
    later, second = await checkpoint(engine, since=True, at=NOW + timedelta(hours=6))
    assert later == ChainReport(
        1,
        True,
        last_hash=row.hash,
        scope="since_checkpoint",
        checkpoint=entry_id,
        verified_through=entry_id,
    )
    newest = (await stored(engine))[-1]
    later_at = NOW + timedelta(hours=6)
    assert (newest.id, newest.occurred_at, newest.recorded_at) == (second, later_at, later_at)
    assert newest.details == {
        "verified_through": entry_id,
        "verified_hash": row.hash,
        "entries_checked": 1,
        "scope": "since_checkpoint",
        "since": entry_id,
    }
    async with engine.connect() as conn:
        latest = await latest_checkpoint(conn)
        assert latest is not None and (latest.entry_id, latest.verified_through) == (second, entry_id)
        assert await latest_full_checkpoint_at(conn) == NOW  # the first was the full one


async def test_only_an_intact_run_of_some_entries_is_recorded(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="intact"):
            await record_checkpoint(conn, await verify_chain(conn), NOW)  # an empty log
        with pytest.raises(ValueError, match="intact"):
            await record_checkpoint(conn, ChainReport(3, False, 2, "link broken"), NOW)


async def test_without_a_checkpoint_a_run_since_one_is_a_full_run(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    full = ChainReport(5, True, last_hash=rows[-1].hash, verified_through=rows[-1].id)
    assert await verify(engine, since=True) == full
    await forge_details(engine, rows[1])
    found = await verify(engine, since=True)
    assert (found.intact, found.broken_at, found.problem, found.scope) == (
        False,
        rows[1].id,
        "content changed",
        "full",
    )


async def test_since_a_checkpoint_an_edit_after_it_is_caught_and_one_before_only_by_a_full_run(
    engine: AsyncEngine,
) -> None:
    rows = await write_chain(engine, 3)
    _, first = await checkpoint(engine)
    more = (await write_chain(engine, 2))[4:]  # two more entries after the checkpoint
    after = more[-1]
    assert after.id == first + 2

    await forge_details(engine, after)
    since = await verify(engine, since=True)
    assert (since.intact, since.broken_at, since.problem, since.found) == (
        False,
        after.id,
        "content changed",
        after.hash,
    )
    assert (since.entries_checked, since.scope, since.checkpoint) == (3, "since_checkpoint", first)

    before = rows[1]
    await forge_details(engine, before)
    # From the checkpoint the forged entry before it is not seen (the break after it still is) ...
    assert (await verify(engine, since=True)).broken_at == after.id
    # ... a full run finds it first.
    full = await verify(engine)
    assert (full.intact, full.broken_at, full.problem, full.entries_checked) == (
        False,
        before.id,
        "content changed",
        2,
    )
    assert (full.scope, full.checkpoint) == ("full", None)


async def test_an_edit_before_the_checkpoint_is_not_seen_from_it(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    _, first = await checkpoint(engine)
    await forge_details(engine, rows[2], rehash=True)  # even rehashed: nothing after it is walked
    since = await verify(engine, since=True)
    assert since.intact and (since.entries_checked, since.verified_through) == (1, first)
    full = await verify(engine)
    assert (full.broken_at, full.problem) == (rows[3].id, "link broken")


async def test_a_deleted_checkpoint_head_is_caught(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    _, first = await checkpoint(engine)
    head = rows[-1]
    await behind_the_back(engine, entries.delete().where(entries.c.id == head.id))
    found = await verify(engine, since=True)
    assert found == ChainReport(
        0,
        False,
        head.id,
        f"entry missing (anchored by checkpoint {first})",
        head.hash,
        None,
        scope="since_checkpoint",
        checkpoint=first,
    )


async def test_an_altered_checkpoint_head_is_caught(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    _, first = await checkpoint(engine)
    head = rows[-1]
    await forge_details(engine, head)  # its hash kept: the content no longer gives it
    found = await verify(engine, since=True)
    assert (found.broken_at, found.problem, found.found, found.entries_checked) == (
        head.id,
        "content changed",
        head.hash,
        0,
    )

    await forge_details(engine, (await stored(engine))[4], rehash=True)  # and now rehashed
    found = await verify(engine, since=True)
    rehashed = (await stored(engine))[4].hash
    assert (found.broken_at, found.problem, found.expected, found.found) == (
        head.id,
        f"differs from checkpoint {first}",
        head.hash,
        rehashed,
    )


async def test_an_unreadable_latest_checkpoint_means_a_full_run(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    _, first = await checkpoint(engine)
    row = (await stored(engine))[-1]
    await behind_the_back(
        engine,
        entries.update().where(entries.c.id == first).values(details={**row.details, "verified_hash": "x"}),
    )
    found = await verify(engine, since=True)
    assert (found.scope, found.broken_at, found.problem) == ("full", first, "content changed")
    assert found.entries_checked == len(rows) + 1


async def test_bulletin_anchors_before_the_checkpoint_are_checked_one_by_one(
    engine: AsyncEngine, policy: Policy
) -> None:
    rows = await write_chain(engine, 3)
    _, period = parse_period("2026-Q1", policy.tz)
    async with engine.begin() as conn:
        await bulletins.publish(conn, policy, "quarter", period, "信息科", period.end)  # anchors rows[2]
    await write_chain(engine, 5)
    _, first = await checkpoint(engine)
    anchored = rows[2]
    await forge_details(engine, anchored, rehash=True)
    found = await verify(engine, since=True)
    assert (found.broken_at, found.problem, found.expected, found.entries_checked) == (
        anchored.id,
        "differs from bulletin 2026-Q1",
        anchored.hash,
        0,
    )
    await behind_the_back(engine, entries.delete().where(entries.c.id == anchored.id))
    found = await verify(engine, since=True)
    assert (found.broken_at, found.problem, found.checkpoint) == (
        anchored.id,
        "entry missing (anchored by bulletin 2026-Q1)",
        first,
    )


@pytest.mark.parametrize("batch", [scan.SEGMENT, 2])
async def test_entries_the_fast_path_cannot_prove_are_decided_the_reference_way(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """Every row refused by the fast proof: the reference check goes through them one by one and
    the reports are the same as the fast path's."""
    rows = await write_chain(engine)
    expected = await verify(engine, batch=batch)

    def refuse(rows: Any, previous: str, _anchors: Any) -> Batch:
        return Batch(0, None, None, Stop(0, rows[0][0], previous))

    def refuse_lines(data: bytes, anchors: Any) -> scan_pg.Judged:
        judged = judge(data, anchors)
        return judged._replace(stop=judged.first)

    judge = scan_pg.judge
    monkeypatch.setattr(scan_pg, "judge", refuse_lines)
    monkeypatch.setattr(scan, "check_rows", refuse)
    assert await verify(engine, batch=batch) == expected
    await forge_details(engine, rows[3])
    found = await verify(engine, batch=batch)
    assert (found.broken_at, found.problem, found.entries_checked) == (rows[3].id, "content changed", 4)


async def test_a_checkpoint_is_never_a_finding(engine: AsyncEngine, policy: Policy) -> None:
    rows = await write_chain(engine)
    _, first = await checkpoint(engine, at=T0 + timedelta(days=1))
    ids = [r.id for r in rows]
    async with engine.connect() as conn:
        listed = await list_entries(conn, EntryQuery(), limit=100)
        assert [e["id"] for e in listed.entries] == ids
        assert (await list_entries(conn, EntryQuery(kind="checkpoint"))).entries == []
        counted = await totals(conn, EntryQuery())
        assert counted["total"] == 5 and "checkpoint" not in counted["by_kind"]
        assert "" not in counted["by_township"]  # a checkpoint has no township to count against
        _, period = parse_period("2026-Q1", policy.tz)
        content = await bulletins.compute(conn, policy, "quarter", period, NOW)
        for town in content["townships"]:
            assert "checkpoint" not in town["failures"] and "checkpoint" not in town["candidates"]
        detail = await entry_detail(conn, first, frozenset())
        assert detail["kind"] == "checkpoint" and detail["reviews"] == []
        assert (detail["status"], detail["finding"]) == (None, None)  # never pending: not reviewable
    async with engine.begin() as conn:
        with pytest.raises(ConflictError, match="bookkeeping"):
            decision = reviews.Review(ReviewDecision.WAIVE, "不适用")
            await reviews.review(conn, first, decision, "审计 赵", NOW, role=Role.AUDITOR)
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(entries.c.kind).order_by(entries.c.id))).scalars().all()
    assert kinds == ["late_report"] * 5 + ["checkpoint"]
