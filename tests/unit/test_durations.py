from datetime import timedelta

import pytest

from alerting.policy.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        ("3d", timedelta(days=3)),
        (" 1h 30m ", timedelta(minutes=90)),
        ("0m", timedelta(0)),
    ],
)
def test_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "10 minutes", "15", "m", "1x", "1h30", "-5m", "1.5h"])
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_error_names_the_input_and_the_accepted_forms() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("10 minutes")
    message = str(info.value)
    assert "'10 minutes'" in message
    for form in ("30s", "15m", "2h", "1h30m", "3d"):
        assert form in message
