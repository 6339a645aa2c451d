"""Settings come from ALERTING_* variables; the components a process runs are checked at start."""

import pytest
from pydantic import ValidationError

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


SCRAM = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "alerting",
    "kafka_sasl_password": "s3cret-Kafka-pw",
}


def test_kafka_is_plaintext_unless_told_otherwise() -> None:
    settings = Settings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_sasl_mechanism is None


def test_sasl_needs_a_mechanism() -> None:
    with pytest.raises(SettingsError, match="ALERTING_KAFKA_SASL_MECHANISM is required"):
        Settings(**{**SCRAM, "kafka_sasl_mechanism": None})


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("kafka_sasl_username", "ALERTING_KAFKA_SASL_USERNAME"),
        ("kafka_sasl_password", "ALERTING_KAFKA_SASL_PASSWORD"),
    ],
)
def test_scram_and_plain_need_a_username_and_a_password(missing: str, named: str) -> None:
    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        with pytest.raises(SettingsError, match=f"{named} required") as refused:
            Settings(**{**SCRAM, "kafka_sasl_mechanism": mechanism, missing: None})
        assert SCRAM["kafka_sasl_password"] not in str(refused.value)


def test_an_empty_password_counts_as_none() -> None:
    with pytest.raises(SettingsError, match="ALERTING_KAFKA_SASL_PASSWORD required"):
        Settings(**{**SCRAM, "kafka_sasl_password": ""})


def test_oauthbearer_needs_a_token_file() -> None:
    oauth = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"}
    with pytest.raises(SettingsError, match="ALERTING_KAFKA_OAUTH_TOKEN_FILE is required"):
        Settings(**oauth)
    assert (
        Settings(**oauth, kafka_oauth_token_file="/var/run/secrets/kafka/token").kafka_sasl_username is None
    )


def test_a_mechanism_without_sasl_is_refused() -> None:
    with pytest.raises(SettingsError, match="ALERTING_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"):
        Settings(**{**SCRAM, "kafka_security_protocol": "PLAINTEXT"})


def test_tls_files_without_tls_are_refused() -> None:
    with pytest.raises(
        SettingsError, match="ALERTING_KAFKA_SSL_CAFILE set but ALERTING_KAFKA_SECURITY_PROTOCOL"
    ):
        Settings(kafka_ssl_cafile="/etc/kafka/ca.pem")
    with pytest.raises(
        SettingsError, match="ALERTING_KAFKA_SSL_KEYFILE is set without ALERTING_KAFKA_SSL_CERTFILE"
    ):
        Settings(kafka_security_protocol="SSL", kafka_ssl_keyfile="/etc/kafka/client.key")


def test_an_unknown_protocol_or_mechanism_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTING_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ValidationError, match="kafka_security_protocol"):
        Settings()
    monkeypatch.setenv("ALERTING_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ALERTING_KAFKA_SASL_MECHANISM", "GSSAPI")
    with pytest.raises(ValidationError, match="kafka_sasl_mechanism"):
        Settings()


def test_the_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SCRAM.items():
        monkeypatch.setenv(f"ALERTING_{name.upper()}", value)
    settings = Settings()
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == SCRAM["kafka_sasl_password"]
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert SCRAM["kafka_sasl_password"] not in shown
