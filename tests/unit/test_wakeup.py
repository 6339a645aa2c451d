"""The in-process wake-up on a fake clock: a poke that arrives while a tick runs is not lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alerting.clock import FakeClock
from escalation.wakeup import WakeupLoop
from tests.support import eventually

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
S = timedelta(seconds=1)


async def test_a_poke_during_a_tick_makes_the_loop_look_again() -> None:
    clock = FakeClock(T0)
    ticks: list[datetime] = []

    async def tick(now: datetime) -> datetime | None:
        ticks.append(now)
        if len(ticks) == 1:
            return T0 + 60 * S  # the next due time, as the table says
        if len(ticks) == 2:
            # Meanwhile the API arms a deadline due at +70 s; this tick's query had already run.
            loop.poke(T0 + 70 * S)
            return None
        return T0 + 70 * S

    loop = WakeupLoop("deadlines", clock, tick, max_idle=timedelta(hours=1))
    task = asyncio.create_task(loop.run())
    try:
        await eventually(lambda: len(ticks) == 1, what="the first tick")
        await clock.advance(60 * S)
        await eventually(lambda: len(ticks) >= 2, what="the tick at +60 s")
        # Without moving the clock: the loop looks again at once instead of an hour later.
        await eventually(lambda: len(ticks) == 3, what="a tick after the poke", within=2)
        assert ticks == [T0, T0 + 60 * S, T0 + 60 * S]
    finally:
        task.cancel()
