"""A burst of due deadlines in the running service: on PostgreSQL two batches are fired at once while it
is behind, on SQLite one at a time; either way every deadline is escalated exactly once and the
accountability chain stays one unbroken line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from alerting.accountability.verify import verify_chain
from alerting.app import service as service_module
from alerting.app.service import Service
from alerting.clock import FakeClock
from alerting.domain import DeadlineKind
from alerting.storage.bulk import insert_rows
from alerting.storage.engine import create_engine, upgrade
from alerting.storage.schema import accountability_entries, deadlines, escalations, incidents
from consumers.intake import incident_values
from escalation import arming
from escalation.engine import Fired
from escalation.rules import NewDeadline
from tests.storage.factories import make_report
from tests.support import eventually, example_policy, receiver, running_service, service_settings

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DUE = T0 + timedelta(minutes=1)
BURST = 150
BATCH = 20


async def _seed(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(select(1))
            ids = [f"BURST-{n}" for n in range(BURST)]
            await insert_rows(conn, incidents, [incident_values(make_report(i), T0) for i in ids])
            rows = [
                row
                for i in ids
                for row in arming.incident_rows(i, "城关镇", [NewDeadline(DeadlineKind.ACK, DUE)], T0)
            ]
            await insert_rows(conn, deadlines, rows)
    finally:
        await engine.dispose()


async def test_a_burst_fires_every_deadline_once_in_lanes(
    database_url: str, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database_url
    await asyncio.to_thread(upgrade, url)
    await _seed(url)
    monkeypatch.setattr(service_module, "FIRE_BATCH", BATCH)
    clock = FakeClock(T0)
    in_flight: list[int] = [0]
    most: list[int] = [0]
    async with (
        receiver() as hook,
        running_service(service_settings(url, kafka_bootstrap), example_policy(hook.url), clock) as run,
    ):
        fire_batch: Callable[[datetime, int, Callable[[], None]], Awaitable[list[Fired]]]
        fire_batch = run.service._fire_batch

        async def counted(now: datetime, lane: int, on_full: Callable[[], None]) -> list[Fired]:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            try:
                return await fire_batch(now, lane, on_full)
            finally:
                in_flight[0] -= 1

        monkeypatch.setattr(run.service, "_fire_batch", counted)
        await clock.advance(DUE - T0)

        async def all_fired() -> bool:
            async with run.service.engine.connect() as conn:
                count = select(func.count()).select_from(escalations)
                return (await conn.execute(count)).scalar_one() >= BURST

        await eventually(all_fired, what=f"{BURST} escalations")
        async with run.service.engine.connect() as conn:
            fired = (await conn.execute(select(escalations.c.deadline_id, escalations.c.round))).all()
            entries = (
                await conn.execute(select(func.count()).select_from(accountability_entries))
            ).scalar_one()
            chain = await verify_chain(conn)
    assert len(fired) == len({d for d, _ in fired}) == BURST
    assert {r for _, r in fired} == {0}
    assert entries == BURST  # one unacknowledged entry per deadline
    assert chain.intact and chain.entries_checked == BURST
    assert most[0] == (service_module.FIRE_LANES if url.startswith("postgresql") else 1)


async def test_stopping_mid_tick_cancels_every_lane(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop cancels the deadline loop's tick; the lanes it opened must roll back with it, not run
    on while the engine is disposed of."""
    service = Service(service_settings(pg_url, "127.0.0.1:9"), example_policy("http://127.0.0.1:9/h"))
    started: list[int] = []
    cancelled: list[int] = []

    async def full_and_slow(now: datetime, lane: int, on_full: Callable[[], None]) -> list[Fired]:
        started.append(lane)
        on_full()  # as a lane whose batch came back full
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(lane)
            raise
        return []

    monkeypatch.setattr(service, "_fire_batch", full_and_slow)
    tick = asyncio.create_task(service._fire_tick(T0))
    await eventually(lambda: len(started) == service_module.FIRE_LANES, what="every lane open")
    tick.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tick
    assert sorted(cancelled) == sorted(started) == list(range(service_module.FIRE_LANES))
    await service.stop()  # closes what the constructor made (nothing was started)
    await service.consumer.stop()
