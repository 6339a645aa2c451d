"""The service against a SASL_SSL broker (deploy/local/kafka.sh KAFKA_SECURITY=sasl_ssl): reports
flow through the API and from a producer of its own; every SASL mechanism aiokafka speaks
authenticates; and a wrong password, an untrusted CA or a plaintext client stops start-up with a
message naming the setting, never the secret."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alerting.errors import KafkaAccessError
from alerting.settings import Settings
from consumers.kafka_access import check_access
from consumers.kafka_client import client_options
from consumers.signing import sign
from tests.e2e.conftest import SecureBroker
from tests.faults.harness import ServiceProcess, fault_policy, report_message, service_env, wait_for
from tests.support import producer_key, report_body
from tests.tls_certs import make_ca

START_REFUSED_WITHIN_S = 60  # migrations, then one connection attempt: seconds, not a retry loop


def _alerting(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "alerting.app", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _unsigned_jwt(subject: str | None, expires_in_s: int = 3600) -> str:
    """A token for Kafka's unsecured OAUTHBEARER validator (alg none): its claims are all it checks,
    and it needs a subject."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims: dict[str, object] = {"iat": now, "exp": now + expires_in_s}
    if subject is not None:
        claims["sub"] = subject
    return f"{part({'alg': 'none'})}.{part(claims)}."


async def _round_trip(settings: Settings) -> bytes:
    """Produce one record to a topic of its own and read it back, both clients from `settings`."""
    topic = f"secured.{uuid.uuid4().hex[:8]}"
    value = f"through {settings.kafka_sasl_mechanism}".encode()
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=20_000, max_records=1)
    finally:
        await consumer.stop()
    return next(record.value for records in batch.values() for record in records)


async def test_reports_flow_through_the_service_over_sasl_ssl_scram_sha_512(
    secure_kafka: SecureBroker, sqlite_url: str, tmp_path: Path
) -> None:
    print(f"secured broker started in {secure_kafka.started_in_s:.1f} s")
    policy = fault_policy(tmp_path / "policy.toml", ack="1h")
    env = service_env(sqlite_url, secure_kafka.bootstrap, policy, "http://127.0.0.1:9/", **secure_kafka.env())
    service = ServiceProcess(env, tmp_path / "service.log")
    service.start()
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            ready = await client.get("/readyz")
            assert ready.json()["kafka"] == "ok", ready.text
            township = _alerting(env, "token", "create", "--role", "township", "--township", "城关镇")
            admin = {"Authorization": f"Bearer {_alerting(env, 'token', 'create', '--role', 'admin')}"}
            posted = await client.post(
                "/api/v1/reports",
                headers={"Authorization": f"Bearer {township}"},
                json=report_body("SEC-API-1", "城关镇", known_at=datetime.now(UTC)),
            )
            assert posted.status_code == 202, posted.text

            async def stored(incident: str) -> bool:
                return (await client.get(f"/api/v1/incidents/{incident}", headers=admin)).status_code == 200

            await wait_for(lambda: stored("SEC-API-1"), "the API's report consumed and stored", within=60)

            # A township's own producer, connected with the same settings and signing with its key.
            key = await producer_key(sqlite_url)
            producer = AIOKafkaProducer(**client_options(secure_kafka.settings()), acks="all")
            await producer.start()
            try:
                value = report_message("SEC-DIRECT-1", "r-SEC-DIRECT-1")
                await producer.send_and_wait(
                    env["ALERTING_KAFKA_TOPIC"], value, key=b"SEC-DIRECT-1", headers=sign(value, key)
                )
            finally:
                await producer.stop()
            await wait_for(
                lambda: stored("SEC-DIRECT-1"), "the producer's report consumed and stored", within=60
            )
            detail = (await client.get("/api/v1/incidents/SEC-DIRECT-1", headers=admin)).json()
            assert [report["report_id"] for report in detail["reports"]] == ["r-SEC-DIRECT-1"]
    finally:
        assert service.terminate() == 0, service.log()[-2000:]
    assert secure_kafka.password not in service.log()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
async def test_the_other_password_mechanisms_authenticate(secure_kafka: SecureBroker, mechanism: str) -> None:
    settings = secure_kafka.settings(mechanism)
    await check_access(settings)
    assert await _round_trip(settings) == f"through {mechanism}".encode()


async def test_oauthbearer_reads_the_token_file_at_each_connection_and_a_refused_token_is_named(
    secure_kafka: SecureBroker, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(_unsigned_jwt("alerting"))
    settings = secure_kafka.settings("OAUTHBEARER", kafka_oauth_token_file=str(token))
    await check_access(settings)
    assert await _round_trip(settings) == b"through OAUTHBEARER"
    token.write_text(_unsigned_jwt(None))  # rewritten: a token the broker refuses (no subject)
    # aiokafka does not notice the broker's refusal of a token; the start-up check does.
    with pytest.raises(
        KafkaAccessError,
        match=r"did not accept the OAUTHBEARER token .* check ALERTING_KAFKA_OAUTH_TOKEN_FILE",
    ):
        await check_access(settings)


def _refused_start(env: dict[str, str], log_path: Path) -> tuple[int, str, float]:
    """`alerting run` that must not start: (exit status, what it wrote, seconds it took)."""
    began = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "alerting.app", "run"], env=env, stdout=log, stderr=log
        )
        try:
            code = proc.wait(timeout=START_REFUSED_WITHIN_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"still running after {START_REFUSED_WITHIN_S} s: {log_path.read_text()[-2000:]}"
            ) from None
    return code, log_path.read_text(encoding="utf-8", errors="replace"), time.monotonic() - began


def test_a_wrong_password_stops_start_up_naming_the_settings(
    secure_kafka: SecureBroker, sqlite_url: str, tmp_path: Path
) -> None:
    wrong = "not-the-password-Q7"
    env = service_env(
        sqlite_url,
        secure_kafka.bootstrap,
        fault_policy(tmp_path / "policy.toml"),
        "http://127.0.0.1:9/",
        **secure_kafka.env(kafka_sasl_password=wrong),
    )
    code, output, took = _refused_start(env, tmp_path / "service.log")
    print(f"refused in {took:.1f} s")
    assert code == 2, output[-2000:]
    assert "请检查 ALERTING_KAFKA_SASL_USERNAME 和 ALERTING_KAFKA_SASL_PASSWORD" in output
    assert "check ALERTING_KAFKA_SASL_USERNAME and ALERTING_KAFKA_SASL_PASSWORD" in output
    assert wrong not in output and secure_kafka.password not in output
    assert "Traceback" not in output and "Unclosed" not in output


def test_a_ca_that_did_not_sign_the_broker_stops_start_up_naming_the_ca_file(
    secure_kafka: SecureBroker, sqlite_url: str, tmp_path: Path
) -> None:
    other_ca, _key = make_ca(tmp_path / "other-ca")
    env = service_env(
        sqlite_url,
        secure_kafka.bootstrap,
        fault_policy(tmp_path / "policy.toml"),
        "http://127.0.0.1:9/",
        **secure_kafka.env(kafka_ssl_cafile=str(other_ca)),
    )
    code, output, _took = _refused_start(env, tmp_path / "service.log")
    assert code == 2, output[-2000:]
    assert "证书不受信任：请检查 ALERTING_KAFKA_SSL_CAFILE" in output
    assert "ALERTING_KAFKA_SSL_CAFILE must be the CA that signed the brokers' certificates" in output
    assert secure_kafka.password not in output and "Traceback" not in output


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
async def test_a_client_without_tls_or_without_sasl_is_told_to_check_the_protocol(
    secure_kafka: SecureBroker, protocol: str
) -> None:
    values = secure_kafka.values(
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=None,
        kafka_sasl_username=None,
        kafka_sasl_password=None,
    )
    if protocol == "PLAINTEXT":
        values["kafka_ssl_cafile"] = None
    with pytest.raises(
        KafkaAccessError, match=f"ALERTING_KAFKA_SECURITY_PROTOCOL={protocol} is probably not"
    ):
        await check_access(Settings(**values))
