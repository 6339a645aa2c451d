"""store_report against a real database: incidents, deadlines, duplicates, lateness, timestamps."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.domain import DeadlineKind, DeadlineState, EntryKind, Level, ReportType
from alerting.errors import InvalidReport
from alerting.policy.model import Policy
from alerting.storage.schema import accountability_entries, deadlines, incidents, reports
from consumers.intake import Outcome, store_report
from tests.storage.factories import T0, make_report, row_counts

NOW = T0 + timedelta(minutes=1, seconds=2)


async def _deadlines(engine: AsyncEngine, incident_id: str = "inc-1") -> dict[str, dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(deadlines).where(deadlines.c.incident_id == incident_id))).all()
    return {row.kind: dict(row._mapping) for row in rows}


async def _late_entries(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(accountability_entries)
                .where(accountability_entries.c.kind == EntryKind.LATE_REPORT.value)
                .order_by(accountability_entries.c.id)
            )
        ).all()
    return [dict(row._mapping) for row in rows]


@pytest.mark.parametrize("level", [Level.II, Level.IV])
async def test_first_report_opens_incident_with_its_deadlines(
    engine: AsyncEngine, policy: Policy, level: Level
) -> None:
    report = make_report(level=level)
    rules = policy.levels[level]
    async with engine.begin() as conn:
        result = await store_report(conn, report, policy, NOW)

    assert result.outcome is Outcome.STORED
    assert result.late_entries == 0
    async with engine.connect() as conn:
        incident = (await conn.execute(select(incidents))).one()
    assert (incident.id, incident.township, incident.level, incident.status) == (
        "inc-1",
        "城关镇",
        level.value,
        "open",
    )
    assert incident.opened_at == report.reported_at
    got = await _deadlines(engine)
    forwards = {
        DeadlineKind.FORWARD_PHONE: rules.forward_phone,
        DeadlineKind.FORWARD_WRITTEN: rules.forward_written,
    }
    expected = {
        DeadlineKind.FIRST_REPORT,
        DeadlineKind.WRITTEN_REPORT,
        DeadlineKind.ACK,
        DeadlineKind.FOLLOWUP,
    }
    expected |= {kind for kind, limit in forwards.items() if limit}
    assert set(got) == {k.value for k in expected}

    first = got[DeadlineKind.FIRST_REPORT.value]
    assert first["state"] == DeadlineState.MET.value
    assert first["due_at"] == report.known_at + rules.first_report
    assert (first["met_at"], first["met_by"], first["fire_at"]) == (
        report.reported_at,
        report.report_id,
        None,
    )

    written = got[DeadlineKind.WRITTEN_REPORT.value]
    assert written["state"] == DeadlineState.PENDING.value
    assert written["due_at"] == written["fire_at"] == report.known_at + rules.written_report
    assert written["met_at"] is None

    ack = got[DeadlineKind.ACK.value]
    assert ack["state"] == DeadlineState.PENDING.value
    assert ack["due_at"] == ack["fire_at"] == report.reported_at + rules.ack
    assert result.earliest_fire_at == min(
        report.known_at + rules.first_report, report.reported_at + rules.ack
    )
    assert await _late_entries(engine) == []


async def test_same_report_again_is_a_duplicate_and_changes_nothing(
    engine: AsyncEngine, policy: Policy
) -> None:
    report = make_report()
    async with engine.begin() as conn:
        await store_report(conn, report, policy, NOW)
        before = await row_counts(conn)
    async with engine.begin() as conn:
        result = await store_report(conn, report, policy, NOW + timedelta(minutes=3))
        after = await row_counts(conn)
    assert result.outcome is Outcome.DUPLICATE
    assert after == before
    # six of the incident (level II) and the township's two silence clocks
    assert before["reports"] == 1 and before["deadlines"] == 8


async def test_report_id_reused_for_another_incident_is_rejected(engine: AsyncEngine, policy: Policy) -> None:
    async with engine.begin() as conn:
        await store_report(conn, make_report("inc-1", report_id="r-1"), policy, NOW)
        before = await row_counts(conn)
    # The consumer stores a batch in one transaction and goes on after a rejected report:
    # the rejection must leave the transaction unchanged and usable.
    async with engine.begin() as conn:
        with pytest.raises(InvalidReport, match="already belongs to incident inc-1"):
            await store_report(conn, make_report("inc-2", report_id="r-1"), policy, NOW)
        assert await row_counts(conn) == before
        await store_report(conn, make_report("inc-3"), policy, NOW)
    async with engine.connect() as conn:
        assert (await row_counts(conn))["incidents"] == 2
        assert (await conn.execute(select(incidents.c.id).where(incidents.c.id == "inc-2"))).all() == []


async def test_report_from_another_township_for_existing_incident_is_rejected(
    engine: AsyncEngine, policy: Policy
) -> None:
    async with engine.begin() as conn:
        await store_report(conn, make_report(township="城关镇"), policy, NOW)
        before = await row_counts(conn)
    intruder = make_report(report_id="r-other", township="梅林镇", type_=ReportType.WRITTEN)
    async with engine.begin() as conn:
        with pytest.raises(InvalidReport, match="belongs to 城关镇"):
            await store_report(conn, intruder, policy, NOW)
        assert await row_counts(conn) == before
    assert (await _deadlines(engine))[DeadlineKind.WRITTEN_REPORT.value]["state"] == DeadlineState.PENDING


async def test_first_report_exactly_at_its_deadline_is_on_time(engine: AsyncEngine, policy: Policy) -> None:
    due = T0 + policy.levels[Level.II].first_report
    async with engine.begin() as conn:
        result = await store_report(conn, make_report(reported_at=due), policy, due)
    assert result.late_entries == 0
    assert await _late_entries(engine) == []


async def test_late_first_report_writes_one_late_report_entry(engine: AsyncEngine, policy: Policy) -> None:
    due = T0 + policy.levels[Level.II].first_report
    report = make_report(reported_at=due + timedelta(seconds=90))
    async with engine.begin() as conn:
        result = await store_report(conn, report, policy, report.reported_at)

    assert (result.outcome, result.late_entries) == (Outcome.STORED, 1)
    [entry] = await _late_entries(engine)
    first = (await _deadlines(engine))[DeadlineKind.FIRST_REPORT.value]
    assert entry["delay_seconds"] == 90
    assert (entry["township"], entry["responsible"]) == ("城关镇", "城关镇")
    assert (entry["incident_id"], entry["report_id"], entry["deadline_id"]) == (
        "inc-1",
        report.report_id,
        first["id"],
    )
    assert entry["occurred_at"] == report.reported_at
    assert entry["details"]["deadline"] == DeadlineKind.FIRST_REPORT.value
    async with engine.connect() as conn:
        late_by = (await conn.execute(select(reports.c.late_by_seconds))).scalar_one()
    assert late_by == 90


async def test_late_written_report_meets_its_deadline_and_records_the_delay(
    engine: AsyncEngine, policy: Policy
) -> None:
    async with engine.begin() as conn:
        await store_report(conn, make_report(), policy, NOW)
    due = T0 + policy.levels[Level.II].written_report
    written = make_report(type_=ReportType.WRITTEN, reported_at=due + timedelta(minutes=5, seconds=7))
    async with engine.begin() as conn:
        result = await store_report(conn, written, policy, written.reported_at)

    assert (result.outcome, result.late_entries) == (Outcome.STORED, 1)
    deadline = (await _deadlines(engine))[DeadlineKind.WRITTEN_REPORT.value]
    assert deadline["state"] == DeadlineState.MET.value
    assert (deadline["met_at"], deadline["met_by"], deadline["fire_at"]) == (
        written.reported_at,
        written.report_id,
        None,
    )
    [entry] = await _late_entries(engine)
    assert entry["delay_seconds"] == 307
    assert entry["deadline_id"] == deadline["id"]
    assert entry["details"]["deadline"] == DeadlineKind.WRITTEN_REPORT.value
    assert entry["details"]["report_type"] == ReportType.WRITTEN.value


async def test_timestamps_read_back_as_aware_utc_with_microseconds(
    engine: AsyncEngine, policy: Policy
) -> None:
    east8 = timezone(timedelta(hours=8))
    report = make_report(known_at=T0.astimezone(east8), reported_at=T0 + timedelta(seconds=1, microseconds=1))
    stored_at = T0 + timedelta(seconds=2, microseconds=654321)
    async with engine.begin() as conn:
        await store_report(conn, report, policy, stored_at)
    async with engine.connect() as conn:
        row = (await conn.execute(select(reports))).one()
        incident = (await conn.execute(select(incidents))).one()

    values = {
        "occurred_at": (row.occurred_at, report.occurred_at),
        "known_at": (row.known_at, report.known_at),
        "reported_at": (row.reported_at, report.reported_at),
        "stored_at": (row.stored_at, stored_at),
        "incident.known_at": (incident.known_at, report.known_at),
        "incident.updated_at": (incident.updated_at, stored_at),
    }
    for name, (got, wrote) in values.items():
        assert got.tzinfo is UTC, name
        assert got == wrote, name
        assert got.microsecond == wrote.microsecond, name
    assert row.known_at.hour == T0.hour  # converted to UTC, not the +08:00 wall clock
