"""The in-process wake-up: sleep until the earliest due time the database reports, then tick.

Nothing per deadline lives in memory: the only state is one timestamp, rebuilt by the first tick
after start-up, so re-arming after a restart costs one indexed query. `poke` wakes the loop early
when new work arrives; `max_idle` bounds the sleep so rows written by another replica are seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from alerting.clock import Clock

log = logging.getLogger(__name__)

Tick = Callable[[datetime], Awaitable[datetime | None]]


class WakeupLoop:
    def __init__(self, name: str, clock: Clock, tick: Tick, max_idle: timedelta) -> None:
        self.name = name
        self._clock = clock
        self._tick = tick
        self._max_idle = max_idle
        self._wake = asyncio.Event()
        self._next: datetime | None = None
        self.ticks = 0

    def poke(self, at: datetime | None = None) -> None:
        """Look again now (at=None) or by `at` if that is sooner than the planned wake-up."""
        if at is None or self._next is None or at < self._next:
            self._wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()  # before the tick, so a poke during the tick is not lost
            # While ticking the next wake-up is unknown: any poke counts (what it announces may have
            # been written after the tick looked).
            self._next = None
            now = self._clock.now()
            try:
                due = await self._tick(now)
                failures = 0
            except Exception:
                failures += 1
                backoff = timedelta(seconds=min(30.0, 0.5 * 2**failures))
                log.exception("%s tick failed; retrying in %s", self.name, backoff)
                due = now + backoff
            self.ticks += 1
            cap = self._clock.now() + self._max_idle
            self._next = cap if due is None else min(due, cap)
            await self._clock.wait_until(self._next, self._wake)


class Backlog:
    """Whether firing is behind (its last batch was full), and so whether delivery should wait.

    Delivery yields to a burst for at most `hold`: past that, a long backlog (after an outage) must
    not keep every notification back.
    """

    def __init__(self, hold: timedelta) -> None:
        self._hold = hold
        self._since: datetime | None = None

    def note(self, behind: bool, now: datetime) -> None:
        if not behind:
            self._since = None
        elif self._since is None:
            self._since = now

    def hold_until(self, now: datetime) -> datetime | None:
        """When delivery may go on, or None if it may go on now."""
        if self._since is None or now - self._since >= self._hold:
            return None
        return self._since + self._hold
