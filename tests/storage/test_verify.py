"""Verifying the hash chain, and the database's own refusal to rewrite the log or a bulletin.

To tamper "behind the service's back" the tests go round the append-only triggers the way an
administrator with direct database access could: on SQLite by dropping the trigger, on PostgreSQL by
`SET session_replication_role = replica` (superuser; triggers do not fire) in the same connection.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Executable, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerting.accountability import scan, scan_pg
from alerting.accountability.append import append
from alerting.accountability.chain import GENESIS_HASH, NewEntry, content_of, entry_hash
from alerting.accountability.verify import ChainReport, verify_chain
from alerting.audit import bulletins
from alerting.audit.bulletins import parse_period
from alerting.domain import EntryKind
from alerting.policy.model import Policy
from alerting.storage.schema import accountability_entries as entries
from alerting.storage.schema import bulletins as bulletins_table

T0 = datetime(2026, 3, 2, 1, 0, 0, 654321, tzinfo=UTC)
TOWNS = ["城关镇", "梅林镇", "青山乡", "城关镇", "梅林镇"]


async def write_chain(engine: AsyncEngine, count: int = len(TOWNS)) -> list[Any]:
    """`count` entries appended as the service appends them; the rows as stored."""
    for n, town in enumerate(TOWNS[:count]):
        entry = NewEntry(
            kind=EntryKind.LATE_REPORT,
            township=town,
            responsible=town,
            occurred_at=T0 + timedelta(hours=n),
            incident_id=f"inc-{n}",
            delay_seconds=60 * (n + 1),
            details={"deadline": "first_report", "n": n, "说明": "首报迟报"},
        )
        async with engine.begin() as conn:
            await append(conn, entry, T0 + timedelta(hours=n, seconds=5))
    return await stored(engine)


async def stored(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(entries).order_by(entries.c.id))).all())


async def verify(engine: AsyncEngine, batch: int = 2000) -> ChainReport:
    async with engine.connect() as conn:
        return await verify_chain(conn, batch)


async def _bypass(conn: AsyncConnection, on: bool) -> None:
    if conn.dialect.name == "postgresql":
        role = "SET session_replication_role = replica" if on else "RESET session_replication_role"
        await conn.execute(text(role))
    elif on:
        await conn.execute(text("DROP TRIGGER IF EXISTS accountability_entries_no_update"))
        await conn.execute(text("DROP TRIGGER IF EXISTS accountability_entries_no_delete"))


async def behind_the_back(engine: AsyncEngine, statement: Executable) -> None:
    """Run `statement` with the append-only triggers out of the way, in one connection."""
    async with engine.begin() as conn:
        await _bypass(conn, True)
        result = await conn.execute(statement)
        assert result.rowcount == 1  # type: ignore[attr-defined]
        await _bypass(conn, False)


# --- an intact chain -----------------------------------------------------------------------------


async def test_an_empty_log_is_intact(engine: AsyncEngine) -> None:
    assert await verify(engine) == ChainReport(0, True, last_hash=GENESIS_HASH)


@pytest.mark.parametrize("batch", [2000, 2, 1])
async def test_an_intact_chain_reports_its_count_and_last_hash(engine: AsyncEngine, batch: int) -> None:
    rows = await write_chain(engine)
    expected = ChainReport(len(rows), True, last_hash=rows[-1].hash, verified_through=rows[-1].id)
    assert await verify(engine, batch) == expected


async def test_postgresql_proves_the_entries_the_service_wrote_by_itself(engine: AsyncEngine) -> None:
    """json_text stores the details as the chain encodes them: the database recomputes every hash and
    sends back only a segment's first and last rows, each proved."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the in-database proof is PostgreSQL's")
    rows = await write_chain(engine)
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        lines: list[bytes] = []

        async def sink(chunk: bytes) -> None:
            lines.extend(chunk.splitlines())

        await raw.copy_from_query(scan_pg.segment_query(0, rows[-1].id, []), output=sink)
    fields = [line.split(b"\t") for line in lines]
    assert [(int(f[0]), int(f[1]), f[6]) for f in fields] == [(1, rows[0].id, b"t"), (5, rows[-1].id, b"t")]
    assert fields[1][4] == rows[3].hash.encode()  # the row before the last, which it is linked to


async def test_an_entry_stored_before_keys_were_sorted_still_verifies(engine: AsyncEngine) -> None:
    """Details written with their keys in another order (as json_text did before it sorted them):
    the database cannot prove the row, Python can; a change to them is still found."""
    rows = await write_chain(engine)
    old_text = '{"说明":"首报迟报","n":2,"deadline":"first_report"}'
    value = text("CAST(:t AS JSON)" if engine.dialect.name == "postgresql" else ":t").bindparams(t=old_text)
    await behind_the_back(engine, entries.update().where(entries.c.id == rows[2].id).values(details=value))
    async with engine.connect() as conn:
        query = text(f"SELECT CAST(details AS TEXT) FROM accountability_entries WHERE id = {rows[2].id}")
        assert await conn.scalar(query) == old_text  # as it was written, not re-encoded
    expected = ChainReport(len(rows), True, last_hash=rows[-1].hash, verified_through=rows[-1].id)
    assert await verify(engine, batch=2) == expected
    assert await verify(engine) == expected
    changed = text("CAST(:t AS JSON)" if engine.dialect.name == "postgresql" else ":t").bindparams(
        t=old_text.replace('"n":2', '"n":3')
    )
    await behind_the_back(engine, entries.update().where(entries.c.id == rows[2].id).values(details=changed))
    found = await verify(engine)
    assert (found.broken_at, found.problem, found.entries_checked) == (rows[2].id, "content changed", 3)


async def test_the_hashing_runs_off_the_event_loop(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are streamed and hashed in worker threads: requests are served meanwhile."""
    rows = await write_chain(engine)
    hashed_in: set[int] = set()

    def spying(check: Any) -> Any:
        def spy(*args: Any) -> Any:
            hashed_in.add(threading.get_ident())
            return check(*args)

        return spy

    monkeypatch.setattr(scan_pg, "judge", spying(scan_pg.judge))
    monkeypatch.setattr(scan, "check_rows", spying(scan.check_rows))
    assert (await verify(engine, batch=2)).entries_checked == len(rows)
    assert hashed_in and threading.get_ident() not in hashed_in


# --- tampering -----------------------------------------------------------------------------------


async def test_changed_details_are_found_at_that_entry(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    victim = rows[2]
    forged = {**victim.details, "deadline": "written_report"}
    await behind_the_back(engine, entries.update().where(entries.c.id == victim.id).values(details=forged))
    assert (await stored(engine))[2].details == forged  # the tampering did happen

    found = await verify(engine)
    assert (found.intact, found.broken_at, found.problem) == (False, victim.id, "content changed")
    assert found.entries_checked == 3
    assert found.found == victim.hash  # the stored hash, which no longer matches the content
    assert found.expected is not None and found.expected != found.found
    assert len(found.expected) == 64
    assert found.last_hash is None


async def test_a_changed_delay_is_found_too(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    await behind_the_back(engine, entries.update().where(entries.c.id == rows[0].id).values(delay_seconds=1))
    found = await verify(engine, batch=2)
    assert (found.broken_at, found.problem, found.found) == (rows[0].id, "content changed", rows[0].hash)


async def test_a_rehashed_entry_is_found_at_the_next_link(engine: AsyncEngine) -> None:
    # A careful forger recomputes the changed entry's hash; the next entry still names the old one.
    rows = await write_chain(engine)
    victim = rows[1]
    forged = {**victim.details, "n": 99}
    content = {**content_of(victim), "details": forged}
    rehashed = entry_hash(content)
    await behind_the_back(
        engine, entries.update().where(entries.c.id == victim.id).values(details=forged, hash=rehashed)
    )

    found = await verify(engine)
    assert (found.broken_at, found.problem) == (rows[2].id, "link broken")
    assert (found.expected, found.found, found.entries_checked) == (rehashed, victim.hash, 3)


async def test_a_changed_prev_hash_is_a_broken_link(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    victim = rows[3]
    forged = "f" * 64
    await behind_the_back(engine, entries.update().where(entries.c.id == victim.id).values(prev_hash=forged))

    found = await verify(engine)
    assert (found.intact, found.broken_at, found.problem) == (False, victim.id, "link broken")
    assert (found.expected, found.found) == (rows[2].hash, forged)
    assert found.entries_checked == 4


async def test_a_deleted_entry_breaks_the_link_of_the_next(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    gone, following = rows[2], rows[3]
    await behind_the_back(engine, entries.delete().where(entries.c.id == gone.id))
    assert [r.id for r in await stored(engine)] == [rows[0].id, rows[1].id, following.id, rows[4].id]

    found = await verify(engine, batch=2)
    assert (found.intact, found.broken_at, found.problem) == (False, following.id, "link broken")
    # It expected the hash of the entry before the gap and found that of the deleted one.
    assert (found.expected, found.found) == (rows[1].hash, gone.hash)


async def test_a_deleted_last_entry_leaves_a_shorter_intact_chain(engine: AsyncEngine) -> None:
    # What a hash chain alone cannot see: truncation at the tail. The count and last hash, kept
    # elsewhere (an exported verification), are what give it away.
    rows = await write_chain(engine)
    await behind_the_back(engine, entries.delete().where(entries.c.id == rows[-1].id))
    shorter = ChainReport(len(rows) - 1, True, last_hash=rows[-2].hash, verified_through=rows[-2].id)
    assert await verify(engine) == shorter


async def test_a_published_bulletin_anchors_the_tail(engine: AsyncEngine, policy: Policy) -> None:
    # The bulletin keeps the newest entry's id and hash: truncating the log behind it is caught.
    rows = await write_chain(engine)
    _, period = parse_period("2026-Q1", policy.tz)
    async with engine.begin() as conn:
        published = await bulletins.publish(conn, policy, "quarter", period, "信息科", period.end)
    assert published["content"]["chain_anchor"] == {"entry_id": rows[-1].id, "hash": rows[-1].hash}
    assert (await verify(engine)).intact

    await behind_the_back(engine, entries.delete().where(entries.c.id == rows[-1].id))
    found = await verify(engine)
    assert (found.intact, found.broken_at) == (False, rows[-1].id)
    assert found.problem == "entry missing (anchored by bulletin 2026-Q1)" and found.expected == rows[-1].hash


# --- the database refuses to rewrite ------------------------------------------------------------


async def refused(engine: AsyncEngine, statement: Executable) -> None:
    async with engine.begin() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            await conn.execute(statement)


async def test_the_database_refuses_to_update_or_delete_an_entry(engine: AsyncEngine) -> None:
    rows = await write_chain(engine)
    victim = rows[1]
    for statement in (
        entries.update().where(entries.c.id == victim.id).values(details={"forged": True}),
        entries.update().where(entries.c.id == victim.id).values(prev_hash="f" * 64),
        entries.update().values(responsible="nobody"),
        entries.delete().where(entries.c.id == victim.id),
        entries.delete(),
    ):
        await refused(engine, statement)

    assert await stored(engine) == rows
    assert (await verify(engine)).intact


async def test_the_database_refuses_to_rewrite_a_published_bulletin(
    engine: AsyncEngine, policy: Policy
) -> None:
    _, period = parse_period("2026-Q1", policy.tz)
    async with engine.begin() as conn:
        published = await bulletins.publish(conn, policy, "quarter", period, "信息科", period.end)

    table = bulletins_table
    for statement in (
        table.update().where(table.c.id == published["id"]).values(content={"forged": True}),
        table.update().values(content_hash="0" * 64),
        table.delete().where(table.c.id == published["id"]),
    ):
        await refused(engine, statement)

    async with engine.connect() as conn:
        assert await bulletins.published(conn, "quarter", "2026-Q1") == published
