"""Set-based intake against a real database: a batch stored at once leaves exactly the rows, outcomes
and accountability entries that storing its reports one by one, in order, leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accountability.verify import verify_chain
from alerting.domain import DeadlineKind, DeadlineState, Report, ReportType, RoutineItem
from alerting.errors import InvalidReport
from alerting.policy.model import Policy
from alerting.storage.schema import deadlines, metadata
from consumers.batch import Result, needs_full_path, store_batch, store_records
from consumers.intake import store_report
from consumers.items import store_item
from escalation.duties import ensure_duties
from escalation.engine import fire_due
from tests.conftest import fresh_pg_database
from tests.storage.test_rule_reports import KNOWN, MIN, report, routine_item
from tests.support import firing_for, migrated_engine

DAY = timedelta(days=1)
# Surrogate keys and what hashes them differ with insert order; everything else must match.
UNCOMPARED = {"id", "deadline_id", "escalation_id", "refers_to", "prev_hash", "hash"}


@pytest.fixture
async def twin(
    database_url: str, request: pytest.FixtureRequest, tmp_path: Any
) -> AsyncIterator[AsyncEngine]:
    """A second empty database on the same backend, for the one-by-one reference."""
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}"
    else:
        url = await fresh_pg_database(request.getfixturevalue("postgres_admin_dsn"))
    async with migrated_engine(url) as engine:
        yield engine


async def prepare(engine: AsyncEngine, policy: Policy) -> None:
    """The same history in both: an open incident, silence clocks armed, one township flagged silent."""
    async with engine.begin() as conn:
        await ensure_duties(conn, policy, KNOWN - 40 * DAY)
        await store_report(conn, report("inc-a"), policy, KNOWN + MIN)
    async with engine.begin() as conn:
        # 城关镇 just reported; 梅林镇 and 青山乡 have been silent long enough to be flagged.
        await fire_due(conn, firing_for(policy), KNOWN + 2 * MIN)
        # As under a longer chain: 梅林镇's flag is still escalating when its next report arrives.
        await conn.execute(
            deadlines.update()
            .where(deadlines.c.township == "梅林镇", deadlines.c.kind == DeadlineKind.SILENCE.value)
            .values(state=DeadlineState.ESCALATING.value, fire_at=KNOWN + DAY)
        )


def batch() -> list[Report | RoutineItem]:
    late = KNOWN - 2 * DAY
    first_b = report("inc-b", reported_at=KNOWN + 10 * MIN)
    return [
        first_b,
        report("inc-c", township="梅林镇", reported_at=KNOWN + 11 * MIN),  # ends a flagged silence
        report("inc-a"),  # redelivered
        replace(report("inc-a"), incident_id="inc-z"),  # a report id reused for another incident
        report("inc-x", township="不存在镇"),
        report("inc-a", ReportType.WRITTEN, reported_at=KNOWN + 12 * MIN),  # an open incident
        report("inc-d", reported_at=KNOWN + 5 * MIN),  # arrived out of order
        report("inc-e", known_at=late, reported_at=KNOWN + 13 * MIN),  # late: an accountability entry
        report("inc-b", ReportType.FOLLOWUP, reported_at=KNOWN + 14 * MIN),  # opened in this batch
        routine_item("城关镇", KNOWN + 15 * MIN),  # a routine item: meets a periodic duty
        report("inc-k", category="社情民意", reported_at=KNOWN + 15 * MIN),  # routine: refused as urgent
        report("inc-g", ReportType.WRITTEN, reported_at=KNOWN + 16 * MIN),
        first_b,  # twice in one batch
        report("inc-h", township="青山乡", reported_at=KNOWN + 17 * MIN),
        report("inc-i", ReportType.CORRECTION, reported_at=KNOWN + 18 * MIN),
        report("inc-j", township="青山乡", reported_at=KNOWN + 16 * MIN),
    ]


def outcome(result: Result) -> tuple[Any, ...]:
    if isinstance(result, InvalidReport):
        return ("invalid", result.reason)
    return (result.outcome, result.late_entries)


async def contents(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    async with engine.connect() as conn:
        for name, table in metadata.tables.items():
            columns = [c for c in table.columns if c.name not in UNCOMPARED]
            rows = (await conn.execute(select(*columns))).all()
            found[name] = sorted(tuple(map(repr, row)) for row in rows)
    return found


async def test_a_batch_stores_what_one_by_one_stores(
    engine: AsyncEngine, twin: AsyncEngine, policy: Policy
) -> None:
    await prepare(engine, policy)
    await prepare(twin, policy)
    now = KNOWN + 20 * MIN
    reports = batch()

    async with engine.begin() as conn:
        at_once = await store_records(conn, reports, policy, now)
    one_by_one: list[Result] = []
    async with twin.begin() as conn:
        for item in reports:
            try:
                if isinstance(item, RoutineItem):
                    one_by_one.append(await store_item(conn, item, policy, now))
                else:
                    one_by_one.append(await store_report(conn, item, policy, now))
            except InvalidReport as exc:
                one_by_one.append(exc)

    assert [outcome(r) for r in at_once] == [outcome(r) for r in one_by_one]
    assert [outcome(r)[0] for r in at_once].count("invalid") == 3
    assert sum(outcome(r)[1] for r in at_once if not isinstance(r, InvalidReport)) >= 1  # inc-e was late
    async with engine.connect() as conn:
        ended = (
            await conn.execute(
                select(deadlines.c.met_by).where(
                    deadlines.c.township == "梅林镇",
                    deadlines.c.kind == DeadlineKind.SILENCE.value,
                    deadlines.c.state == DeadlineState.MET.value,
                )
            )
        ).scalar_one()
        stretches = (
            await conn.execute(
                select(deadlines.c.context).where(
                    deadlines.c.township == "青山乡",
                    deadlines.c.kind == DeadlineKind.SILENCE.value,
                    deadlines.c.state == DeadlineState.PENDING.value,
                )
            )
        ).scalar_one()
    # 青山乡's new stretch starts at its latest report although that one was stored first.
    assert stretches == {"since": reports[13].reported_at.isoformat()}
    assert ended == reports[1].report_id  # the flagged silent stretch ended with inc-c
    batch_rows, reference_rows = await contents(engine), await contents(twin)
    assert batch_rows["reports"] and batch_rows["deadlines"]
    assert batch_rows == reference_rows
    for db in (engine, twin):
        async with db.connect() as conn:
            assert (await verify_chain(conn)).intact


async def test_the_batch_path_covers_the_common_case(engine: AsyncEngine, policy: Policy) -> None:
    """New incidents reported on time take the set-based path; the silence clocks move with them."""
    await prepare(engine, policy)
    fresh = [report(f"inc-{n}", known_at=KNOWN + n * DAY) for n in range(1, 19)]  # daily, to a Friday
    assert not any(needs_full_path(r, policy) for r in fresh)
    async with engine.begin() as conn:
        results = await store_batch(conn, fresh, policy, KNOWN + 21 * DAY)
    assert all(not isinstance(r, InvalidReport) and r.earliest_fire_at for r in results)
    async with engine.connect() as conn:
        silence = (
            await conn.execute(
                select(deadlines).where(
                    deadlines.c.township == "城关镇",
                    deadlines.c.kind == DeadlineKind.SILENCE.value,
                    deadlines.c.state == DeadlineState.PENDING.value,
                )
            )
        ).one()
        first_reports = (
            await conn.execute(
                select(deadlines.c.state, deadlines.c.met_by).where(
                    deadlines.c.kind == DeadlineKind.FIRST_REPORT.value,
                    deadlines.c.incident_id.in_([r.incident_id for r in fresh]),
                )
            )
        ).all()
    assert silence.context == {"since": fresh[-1].reported_at.isoformat()}
    assert sorted(first_reports) == sorted((DeadlineState.MET.value, r.report_id) for r in fresh)


def test_what_needs_the_full_path(policy: Policy) -> None:
    assert needs_full_path(report("inc-1", ReportType.FOLLOWUP), policy)
    assert needs_full_path(report("inc-1", ReportType.FINAL), policy)
    assert needs_full_path(report("inc-1", category="社情民意"), policy)  # named by a periodic duty
    assert not needs_full_path(report("inc-1"), policy)
    assert not needs_full_path(report("inc-1", ReportType.WRITTEN), policy)
