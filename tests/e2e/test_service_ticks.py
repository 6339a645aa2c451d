"""The service's firing tick against a real database: the month's duties are armed by a tick that
commits, and armed again after one that rolled back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from alerting.app.service import Service
from alerting.clock import FakeClock
from alerting.domain import TOWNSHIP_DUTIES
from alerting.settings import Settings
from alerting.storage.engine import upgrade
from alerting.storage.schema import deadlines
from escalation import engine as engine_module
from tests.support import example_policy

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


async def test_duties_are_armed_again_after_a_tick_that_rolled_back(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await asyncio.to_thread(upgrade, database_url)
    policy = example_policy("http://127.0.0.1:9/hook")
    service = Service(Settings(database_url=database_url), policy, FakeClock(T0))
    real = engine_module.fire_due
    calls = 0

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("UPDATE deadlines", {}, Exception("disk I/O error"))
        return await real(*args, **kwargs)

    async def duty_townships() -> set[str]:
        async with service.engine.connect() as conn:
            query = select(deadlines.c.township).where(
                deadlines.c.kind.in_([k.value for k in TOWNSHIP_DUTIES])
            )
            return set((await conn.execute(query)).scalars())

    monkeypatch.setattr(engine_module, "fire_due", fails_once)
    try:
        with pytest.raises(OperationalError):
            await service._fire_batch(T0, 0, lambda: None)
        assert await duty_townships() == set()  # the duties rolled back with the tick
        await service._fire_batch(T0, 0, lambda: None)
        assert await duty_townships() == set(policy.townships)
    finally:
        await service.producer.stop()  # never started: this only closes them
        await service.consumer.consumer.stop()
        await service.http.aclose()
        await service.engine.dispose()
