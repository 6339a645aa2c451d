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


def test_links_point_at_this_process_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTING_HTTP_PORT", "8123")
    assert Settings().link_base() == "http://127.0.0.1:8123"
    monkeypatch.setenv("ALERTING_HTTP_HOST", "::1")
    assert Settings().link_base() == "http://[::1]:8123"


def test_beyond_loopback_the_public_url_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTING_HTTP_HOST", "0.0.0.0")
    with pytest.raises(SettingsError, match="ALERTING_PUBLIC_URL is required"):
        Settings().link_base()
    monkeypatch.setenv("ALERTING_PUBLIC_URL", "https://alerting.county.example")
    assert Settings().link_base() == "https://alerting.county.example"


def test_the_image_carries_every_file_the_policy_names() -> None:
    """The roster CSV the example policy names is copied into the image beside it."""
    import re
    import tomllib

    from tests.support import ROOT

    policy = tomllib.loads((ROOT / "deploy/policy.example.toml").read_text(encoding="utf-8"))
    named = {f"deploy/{policy['roster']['csv']}", "deploy/policy.example.toml"}
    copied = {
        source
        for line in (ROOT / "deploy/Dockerfile").read_text().splitlines()
        if (m := re.match(r"COPY\s+(.+)\s+\S+$", line))
        for source in m.group(1).split()
    }
    assert named <= copied


def test_topic_replication_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().topic_replication() == (1, 1)
    monkeypatch.setenv("ALERTING_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("ALERTING_KAFKA_MIN_INSYNC_REPLICAS", "2")
    assert Settings().topic_replication() == (3, 2)
    monkeypatch.setenv("ALERTING_KAFKA_MIN_INSYNC_REPLICAS", "4")
    with pytest.raises(SettingsError, match=r"MIN_INSYNC_REPLICAS \(4\).*cannot exceed"):
        Settings().topic_replication()
