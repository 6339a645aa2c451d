"""Delivery yields to a burst of firing, but never for longer than the hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from escalation.wakeup import Backlog

T0 = datetime(2026, 3, 2, 1, tzinfo=UTC)
HOLD = timedelta(seconds=5)


def test_delivery_goes_on_when_firing_keeps_up() -> None:
    backlog = Backlog(HOLD)
    assert backlog.hold_until(T0) is None
    backlog.note(False, T0)
    assert backlog.hold_until(T0) is None


def test_a_full_batch_holds_delivery_until_firing_catches_up() -> None:
    backlog = Backlog(HOLD)
    backlog.note(True, T0)
    backlog.note(True, T0 + timedelta(seconds=1))  # still behind: the hold counts from the first
    assert backlog.hold_until(T0 + timedelta(seconds=2)) == T0 + HOLD
    backlog.note(False, T0 + timedelta(seconds=3))
    assert backlog.hold_until(T0 + timedelta(seconds=3)) is None


def test_a_long_backlog_holds_delivery_no_longer_than_the_hold() -> None:
    backlog = Backlog(HOLD)
    backlog.note(True, T0)
    for s in range(1, 10):
        backlog.note(True, T0 + timedelta(seconds=s))
    assert backlog.hold_until(T0 + HOLD - timedelta(microseconds=1)) == T0 + HOLD
    assert backlog.hold_until(T0 + HOLD) is None
    assert backlog.hold_until(T0 + timedelta(seconds=9)) is None
