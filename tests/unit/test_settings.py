"""Settings come from ALERTING_* variables; the components a process runs are checked at start."""

import pytest

from alerting.errors import SettingsError
from alerting.settings import Settings


def test_defaults_run_everything() -> None:
    assert Settings().component_set() == {"consumer", "deadlines", "delivery"}


def test_an_intake_only_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTING_COMPONENTS", "api")
    assert Settings().component_set() == frozenset()


def test_an_unknown_component_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTING_COMPONENTS", "api, consumer, sweeper")
    with pytest.raises(SettingsError, match="sweeper"):
        Settings().component_set()
