from datetime import timedelta

import httpx
import pytest

from escalation.notify.outbox import backoff
from escalation.notify.webhook import retry_after

S = timedelta(seconds=1)
CAP = timedelta(minutes=5)


@pytest.mark.parametrize(("attempts", "full"), [(0, 2 * S), (1, 2 * S), (2, 4 * S), (3, 8 * S), (8, 256 * S)])
def test_jitter_spans_half_to_full(attempts: int, full: timedelta) -> None:
    assert backoff(attempts, None, jitter=lambda: 0.0) == full / 2
    assert backoff(attempts, None, jitter=lambda: 0.5) == full * 3 / 4
    assert backoff(attempts, None, jitter=lambda: 1.0) == full


@pytest.mark.parametrize("attempts", [9, 10, 20, 46])
def test_capped_at_five_minutes(attempts: int) -> None:
    assert backoff(attempts, None, jitter=lambda: 1.0) == CAP
    assert backoff(attempts, None, jitter=lambda: 0.0) == CAP / 2


def test_default_jitter_stays_in_bounds() -> None:
    for _ in range(200):
        assert 4 * S <= backoff(3, None) <= 8 * S


def testretry_after_wins_only_when_longer() -> None:
    assert backoff(1, 60 * S, jitter=lambda: 1.0) == 60 * S
    assert backoff(3, 5 * S, jitter=lambda: 1.0) == 8 * S
    assert backoff(20, timedelta(hours=1), jitter=lambda: 1.0) == timedelta(hours=1)


def test_backoff_at_the_highest_allowed_max_attempts() -> None:
    assert backoff(49, None, jitter=lambda: 1.0) == CAP  # WebhookChannel allows max_attempts up to 50


def response(**headers: str) -> httpx.Response:
    return httpx.Response(503, headers=headers)


def testretry_after_in_seconds() -> None:
    assert retry_after(response(**{"Retry-After": "120"})) == 120 * S
    assert retry_after(response(**{"Retry-After": " 0 "})) == timedelta(0)


def testretry_after_as_http_date_is_relative_to_the_date_header() -> None:
    def at(when: str) -> httpx.Response:
        day = "Wed, 21 Oct 2015"
        return response(**{"Retry-After": f"{day} {when} GMT", "Date": f"{day} 07:28:00 GMT"})

    assert retry_after(at("07:30:30")) == 150 * S
    assert retry_after(at("07:27:00")) == timedelta(0)  # already past: no extra wait


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Retry-After": ""},
        {"Retry-After": "soon"},
        {"Retry-After": "-5"},
        {"Retry-After": "Wed, 21 Oct 2015 07:30:30 GMT"},
    ],  # a date without a Date header to compare with
)
def test_unusableretry_after_is_none(headers: dict[str, str]) -> None:
    assert retry_after(response(**headers)) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "Wed, 21 Oct 2015 07:30:30 GMT", "Date": "garbage"},
        {"Retry-After": "Wed, 21 Oct 2015 07:30:30 -0000", "Date": "Wed, 21 Oct 2015 07:28:00 GMT"},
        {"Retry-After": "99999999999999"},
    ],
)
def test_hostileretry_after_does_not_raise(headers: dict[str, str]) -> None:
    result = retry_after(response(**headers))
    assert result is None or result >= timedelta(0)
