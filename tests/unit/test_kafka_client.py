"""How the Kafka clients connect (consumers/kafka_client.py) and what start-up says when Kafka
refuses (consumers/kafka_access.py): the parts that need no broker. tests/e2e/test_secured_kafka.py
runs them against a real SASL_SSL broker."""

from __future__ import annotations

import base64
import json
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

from alerting.clock import FakeClock
from alerting.errors import SettingsError
from alerting.settings import Settings
from consumers.kafka_access import explain
from consumers.kafka_client import TokenFile, TokenUnreadable, client_options
from tests.tls_certs import make_ca, make_client

PASSWORD = "s3cret-Kafka-pw"


def _settings(**values: Any) -> Settings:
    return Settings(kafka_bootstrap_servers="127.0.0.1:1", **values)


def _scram(**values: Any) -> Settings:
    return _settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="alerting",
        kafka_sasl_password=PASSWORD,
        **values,
    )


def test_plaintext_options_carry_no_tls_and_no_sasl() -> None:
    assert client_options(_settings()) == {
        "bootstrap_servers": "127.0.0.1:1",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_ssl_options_verify_the_broker_against_the_ca(tmp_path: Path) -> None:
    ca, _key = make_ca(tmp_path)
    options = client_options(_scram(kafka_ssl_cafile=ca))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("alerting", PASSWORD)
    context: ssl.SSLContext = options["ssl_context"]
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "another CA"),),)]


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ALERTING_KAFKA_SSL_CAFILE：文件不存在或不可读"):
        client_options(_scram(kafka_ssl_cafile=tmp_path / "nowhere.pem"))


def test_a_ca_file_that_does_not_parse_is_named_without_its_contents(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot-a-certificate-xyzzy\n-----END CERTIFICATE-----\n")
    with pytest.raises(
        SettingsError, match=r"ALERTING_KAFKA_SSL_CAFILE .* is not a PEM CA certificate"
    ) as refused:
        client_options(_scram(kafka_ssl_cafile=garbage))
    assert "xyzzy" not in str(refused.value)


def test_a_client_certificate_is_loaded_and_a_bad_or_encrypted_key_refused(tmp_path: Path) -> None:
    ca, ca_key = make_ca(tmp_path)
    cert, key = make_client(tmp_path, ca_key)
    assert client_options(_scram(kafka_ssl_cafile=ca, kafka_ssl_certfile=cert, kafka_ssl_keyfile=key))
    (tmp_path / "other").mkdir()
    _other_cert, other_key = make_client(tmp_path / "other", ca_key)
    with pytest.raises(SettingsError, match="ALERTING_KAFKA_SSL_CERTFILE / ALERTING_KAFKA_SSL_KEYFILE"):
        client_options(_scram(kafka_ssl_cafile=ca, kafka_ssl_certfile=cert, kafka_ssl_keyfile=other_key))
    (tmp_path / "locked").mkdir()
    locked_cert, locked_key = make_client(tmp_path / "locked", ca_key, key_password=b"key-pass-123")
    # Refused at once: OpenSSL would otherwise ask for the pass phrase on the terminal.
    with pytest.raises(SettingsError, match="an unencrypted key"):
        client_options(
            _scram(kafka_ssl_cafile=ca, kafka_ssl_certfile=locked_cert, kafka_ssl_keyfile=locked_key)
        )


async def test_the_token_file_is_read_again_at_each_authentication(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first.token.\n")
    provider = TokenFile(path)
    assert await provider.token() == "first.token."
    path.write_text("second.token.")  # rotated in place, as a projected token is
    assert await provider.token() == "second.token."
    path.write_text("  \n")
    with pytest.raises(TokenUnreadable, match=r"ALERTING_KAFKA_OAUTH_TOKEN_FILE .* is empty"):
        await provider.token()
    path.unlink()
    with pytest.raises(TokenUnreadable, match="cannot be read: FileNotFoundError"):
        await provider.token()


async def test_an_expired_jwt_is_not_sent_and_names_the_file(tmp_path: Path) -> None:
    def jwt(claims: dict[str, object]) -> str:
        part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"eyJhbGciOiJub25lIn0.{part}."

    clock = FakeClock(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    path = tmp_path / "token"
    path.write_text(jwt({"sub": "alerting", "exp": clock.now().timestamp() + 60}))
    provider = TokenFile(path, clock)
    assert await provider.token() == path.read_text()
    await clock.advance(timedelta(seconds=60))
    with pytest.raises(TokenUnreadable, match="expired at 2026-03-01 08:01:00 UTC: whatever renews it"):
        await provider.token()
    path.write_text("opaque-token-without-claims")  # not a JWT: the broker decides
    assert await provider.token() == "opaque-token-without-claims"


def test_oauthbearer_options_carry_the_token_provider(tmp_path: Path) -> None:
    token = tmp_path / "token"
    oauth = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"}
    with pytest.raises(SettingsError, match="ALERTING_KAFKA_OAUTH_TOKEN_FILE：文件不存在或不可读"):
        client_options(_settings(**oauth, kafka_oauth_token_file=token))
    token.write_text("a.b.")
    options = client_options(_settings(**oauth, kafka_oauth_token_file=token))
    assert isinstance(options["sasl_oauth_token_provider"], TokenFile)
    assert "sasl_plain_password" not in options


def test_a_refusal_outranks_an_unreachable_server_and_the_password_is_scrubbed() -> None:
    # Whatever a broker puts in its answer, the password does not reach the message.
    refused = SaslAuthenticationFailed(f"invalid credentials for password {PASSWORD}")
    text = explain(
        [("10.0.0.1:9093", ConnectionRefusedError(111, "refused")), ("10.0.0.2:9093", refused)], _scram()
    )
    assert text.startswith("Kafka（10.0.0.2:9093）拒绝了用户 alerting 的 SCRAM-SHA-512 认证")
    assert "ALERTING_KAFKA_SASL_USERNAME and ALERTING_KAFKA_SASL_PASSWORD" in text
    assert PASSWORD not in text and "***" in text


def test_a_dropped_connection_points_at_the_security_protocol() -> None:
    import asyncio

    dropped = KafkaConnectionError("Connection at 127.0.0.1:9093 closed")
    dropped.__cause__ = asyncio.IncompleteReadError(b"\x15\x03\x03", 352518912)
    text = explain([("127.0.0.1:9093", dropped)], _settings())
    assert "ALERTING_KAFKA_SECURITY_PROTOCOL=PLAINTEXT is probably not that listener's protocol" in text
