from datetime import timedelta
from pathlib import Path

import pytest

from alerting.domain import DeadlineKind, Level
from alerting.errors import PolicyError
from alerting.policy import Policy, parse_policy

EXAMPLE = (Path(__file__).parents[2] / "deploy" / "policy.example.toml").read_text(encoding="utf-8")
ENV = {"ALERTING_COUNTY_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
M = timedelta(minutes=1)


def edit(old: str, new: str, text: str = EXAMPLE) -> str:
    assert old in text, f"the example file no longer contains {old!r}"
    return text.replace(old, new, 1)


def line_of(text: str, fragment: str) -> int:
    """1-based number of the first line containing `fragment`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def error(text: str, env: dict[str, str] = ENV) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, env=env)
    return info.value


@pytest.fixture
def policy() -> Policy:
    return parse_policy(EXAMPLE, env=ENV)


@pytest.mark.parametrize(
    ("level", "first", "written", "ack"),
    [
        ("I", 15 * M, 40 * M, 5 * M),
        ("II", 15 * M, 40 * M, 5 * M),
        ("III", 20 * M, 60 * M, 10 * M),
        ("IV", 30 * M, 120 * M, 30 * M),
    ],
)
def test_example_levels_have_the_design_defaults(
    policy: Policy, level: str, first: timedelta, written: timedelta, ack: timedelta
) -> None:
    rules = policy.levels[Level(level)]
    assert (rules.clock_starts, rules.first_report, rules.written_report, rules.ack) == (
        "known_at",
        first,
        written,
        ack,
    )


def test_example_default_chain_offsets(policy: Policy) -> None:
    assert policy.escalation["default"].offsets() == [
        (0, 0 * M),
        (1, 10 * M),
        (2, 20 * M),
        (2, 50 * M),
        (2, 80 * M),
        (2, 110 * M),
    ]
    assert policy.chain_for(DeadlineKind.ACK) is policy.escalation["default"]


def test_example_channel_gets_the_url_from_the_environment(policy: Policy) -> None:
    channel = policy.channels["county_webhook"]
    assert channel.url == "http://127.0.0.1:9/hook"
    assert (channel.timeout, channel.max_attempts) == (timedelta(seconds=5), 6)


def test_bad_duration_names_key_and_line() -> None:
    text = edit('ack = "10m"', 'ack = "10 minutes"')
    err = error(text)
    assert err.key == "levels.III.ack"
    assert err.line == line_of(text, '"10 minutes"')
    assert "10 minutes" in str(err) and "[levels.III.ack]" in str(err) and f"line {err.line}" in str(err)


def test_undefined_channel_in_a_step() -> None:
    text = edit(
        'roles = ["section_chief"],                  channels = ["county_webhook"]',
        'roles = ["section_chief"], channels = ["sms"]',
    )
    err = error(text)
    assert err.key == "escalation.default.steps.1.channels"
    assert "'sms'" in err.reason
    assert err.line == line_of(text, "steps = [")


def test_unknown_level() -> None:
    text = edit("[levels.IV]", "[levels.V]")
    err = error(text)
    assert err.key == "levels.V"
    assert err.line == line_of(text, "[levels.V]")


def test_unknown_top_level_key() -> None:
    text = edit('timezone = "Asia/Shanghai"\n', 'timezone = "Asia/Shanghai"\ncolour = "red"\n')
    err = error(text)
    assert err.key == "colour"
    assert err.line == line_of(text, "colour =")


@pytest.mark.parametrize("env", [{}, {"ALERTING_COUNTY_WEBHOOK_URL": ""}])
def test_unset_environment_variable(env: dict[str, str]) -> None:
    err = error(EXAMPLE, env=env)
    assert err.key == "channels.county_webhook.url"
    assert "ALERTING_COUNTY_WEBHOOK_URL" in err.reason
    assert err.line == line_of(EXAMPLE, "${ALERTING_COUNTY_WEBHOOK_URL}")


def test_invalid_toml_reports_the_line() -> None:
    broken = 'first_report = "20m'
    text = edit('first_report = "20m"', broken)
    err = error(text)
    assert "not valid TOML" in str(err)
    assert f"line {line_of(text, broken)}" in str(err)


def test_steps_out_of_order() -> None:
    text = edit('after = "10m"', 'after = "30m"')
    err = error(text)
    assert err.key == "escalation.default"
    assert "order" in err.reason
    assert err.line == line_of(text, "[escalation.default]")


def test_chain_named_after_an_unknown_deadline_kind() -> None:
    text = edit(
        "[channels.county_webhook]",
        '[escalation.acknowledge]\nsteps = [{ after = "0m", channels = ["county_webhook"] }]\n\n'
        "[channels.county_webhook]",
    )
    err = error(text)
    assert err.key == "escalation.acknowledge"
    assert "ack" in err.reason and "first_report" in err.reason
    assert err.line == line_of(text, "[escalation.acknowledge]")


def test_unknown_key_on_the_first_line_has_a_line_number() -> None:
    assert error('colour = "red"\n' + EXAMPLE).line == 1


def test_missing_key_points_into_its_own_table() -> None:
    text = edit('written_report = "40m"\nack = "5m"\n', 'written_report = "40m"\n')
    err = error(text)
    assert err.key == "levels.I.ack"
    assert line_of(text, "[levels.I]") <= err.line < line_of(text, "[levels.II]")
