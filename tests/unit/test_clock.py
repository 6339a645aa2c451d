import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from alerting.clock import FakeClock

START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_waiter_wakes_only_once_the_clock_reaches_its_time() -> None:
    clock = FakeClock(START)
    waiter = asyncio.create_task(clock.wait_until(START + 10 * S, asyncio.Event()))
    await settle()
    assert not waiter.done()

    await clock.advance(9 * S)
    await settle()
    assert not waiter.done()

    await clock.advance(1 * S)
    await asyncio.wait_for(waiter, timeout=1)
    assert clock.now() == START + 10 * S


async def test_waiter_wakes_when_the_clock_jumps_past_its_time() -> None:
    clock = FakeClock(START)
    waiter = asyncio.create_task(clock.wait_until(START + 10 * S, asyncio.Event()))
    await settle()
    await clock.set(START + timedelta(hours=1))
    await asyncio.wait_for(waiter, timeout=1)


async def test_past_time_returns_immediately() -> None:
    clock = FakeClock(START)
    await asyncio.wait_for(clock.wait_until(START, asyncio.Event()), timeout=1)


async def test_wake_event_ends_the_wait() -> None:
    clock = FakeClock(START)
    wake = asyncio.Event()
    waiter = asyncio.create_task(clock.wait_until(START + timedelta(days=1), wake))
    await settle()
    assert not waiter.done()
    wake.set()
    await asyncio.wait_for(waiter, timeout=1)
    assert clock.now() == START


async def test_already_set_wake_event_returns_immediately() -> None:
    wake = asyncio.Event()
    wake.set()
    await asyncio.wait_for(FakeClock(START).wait_until(START + timedelta(days=1), wake), timeout=1)


async def test_refuses_to_go_backwards() -> None:
    clock = FakeClock(START)
    with pytest.raises(ValueError, match="backwards"):
        await clock.set(START - S)
    with pytest.raises(ValueError, match="backwards"):
        await clock.advance(-S)
    assert clock.now() == START


def test_rejects_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2024, 5, 1, 8, 0))


def test_normalises_the_start_to_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    now = FakeClock(datetime(2024, 5, 1, 16, 0, tzinfo=shanghai)).now()
    assert now == START and now.tzinfo is UTC
