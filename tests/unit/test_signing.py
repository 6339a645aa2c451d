"""Who a record is trusted to come from, and which receipt time it gets (consumers/signing.py)."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from alerting.domain import Provenance
from alerting.errors import UntrustedProducer
from alerting.producer_keys import ProducerKey
from consumers.codec import decode
from consumers.signing import KEY_ID_HEADER, SIGNATURE_HEADER, receive, sign

BROKER = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
BROKER_MS = int(BROKER.timestamp() * 1000)
STATED = BROKER - timedelta(hours=1)  # a producer stating an hour earlier than the broker saw it
COUNTY = ProducerKey("county-api", "县级接口", None, b"county-secret")
CHENGGUAN = ProducerKey("pk_0001", "城关镇平台", "城关镇", b"township-secret")
REVOKED = ProducerKey("pk_0002", "旧平台", "城关镇", None, BROKER - timedelta(days=1))
KEYS = {k.key_id: k for k in (COUNTY, CHENGGUAN, REVOKED)}
CREATE_TIME, LOG_APPEND_TIME = 0, 1


def value(township: str = "城关镇", reported_at: datetime | None = STATED) -> bytes:
    body = {
        "report_id": "r-1",
        "incident_id": "INC-1",
        "township": township,
        "type": "first",
        "category": "安全生产",
        "level": "III",
        "title": "厂房起火",
        "summary": "无伤亡",
        "occurred_at": (BROKER - timedelta(hours=3)).isoformat(),
        "known_at": (BROKER - timedelta(hours=2)).isoformat(),
        "reporter": {"name": "张三", "phone": "0791-1"},
    }
    if reported_at is not None:
        body["reported_at"] = reported_at.isoformat()
    return json.dumps(body, ensure_ascii=False).encode()


def stored(
    data: bytes,
    headers: list[tuple[str, bytes]],
    stamp: int = LOG_APPEND_TIME,
    accept_unsigned: bool = False,
) -> tuple[datetime, Provenance, str | None]:
    report = decode(data, receive(data, headers, BROKER_MS, stamp, KEYS, accept_unsigned), 1 << 20)
    return report.reported_at, report.provenance, report.producer_key


def test_the_signature_is_hmac_sha256_of_the_value_under_the_secret_text() -> None:
    data = value()
    expected = hmac.new(b"township-secret", data, hashlib.sha256).hexdigest()
    assert sign(data, CHENGGUAN) == [
        (KEY_ID_HEADER, b"pk_0001"),
        (SIGNATURE_HEADER, f"v1={expected}".encode()),
    ]


def test_a_county_wide_key_states_the_receipt_time() -> None:
    data = value()
    assert stored(data, sign(data, COUNTY)) == (STATED, Provenance.SIGNED, "county-api")


def test_a_county_wide_key_cannot_state_a_time_after_the_broker_saw_it() -> None:
    data = value(reported_at=BROKER + timedelta(minutes=5))
    assert stored(data, sign(data, COUNTY))[0] == BROKER


def test_a_township_key_gets_the_broker_time_whatever_it_states() -> None:
    data = value()
    assert stored(data, sign(data, CHENGGUAN)) == (BROKER, Provenance.SIGNED, "pk_0001")


def test_a_township_key_cannot_speak_for_another_township() -> None:
    data = value(township="梅林镇")
    with pytest.raises(UntrustedProducer, match="pk_0001 speaks for 城关镇, not for 梅林镇"):
        stored(data, sign(data, CHENGGUAN))


def test_unsigned_is_refused_unless_the_policy_accepts_it() -> None:
    data = value()
    with pytest.raises(UntrustedProducer, match=r"unsigned message.*accept_unsigned = false"):
        stored(data, [])
    assert stored(data, [], accept_unsigned=True) == (BROKER, Provenance.UNSIGNED, None)


def test_without_the_broker_time_only_a_county_wide_key_is_believed() -> None:
    data = value()
    with pytest.raises(UntrustedProducer, match="CreateTime"):
        stored(data, [], stamp=CREATE_TIME, accept_unsigned=True)
    with pytest.raises(UntrustedProducer, match="CreateTime"):
        stored(data, sign(data, CHENGGUAN), stamp=CREATE_TIME)
    assert stored(data, sign(data, COUNTY), stamp=CREATE_TIME)[0] == STATED


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(KEY_ID_HEADER, b"pk_0001")], "needs both"),
        ([(SIGNATURE_HEADER, b"v1=" + b"0" * 64)], "needs both"),
        ([(KEY_ID_HEADER, b"pk_9999"), (SIGNATURE_HEADER, b"v1=" + b"0" * 64)], "unknown producer key"),
        ([(KEY_ID_HEADER, b"pk_0002"), (SIGNATURE_HEADER, b"v1=" + b"0" * 64)], "pk_0002 was revoked"),
        ([(KEY_ID_HEADER, b"pk_0001"), (SIGNATURE_HEADER, b"sha256=abc")], "v1= and 64 hex"),
        ([(KEY_ID_HEADER, b"pk_0001"), (SIGNATURE_HEADER, b"v1=" + b"0" * 64)], "does not match"),
        ([(KEY_ID_HEADER, b"pk_0001"), (KEY_ID_HEADER, b"pk_0001")], "appears 2 times"),
        ([(KEY_ID_HEADER, b"\xff")], "not ASCII"),
    ],
)
def test_bad_signatures_are_refused_with_the_reason(headers: list[tuple[str, bytes]], expected: str) -> None:
    with pytest.raises(UntrustedProducer, match=expected):
        receive(value(), headers, BROKER_MS, LOG_APPEND_TIME, KEYS, accept_unsigned=True)


def test_a_signature_over_another_value_does_not_carry_over() -> None:
    headers = sign(value(), CHENGGUAN)
    with pytest.raises(UntrustedProducer, match="does not match"):
        receive(value(township="梅林镇"), headers, BROKER_MS, LOG_APPEND_TIME, KEYS, accept_unsigned=True)


def test_the_broker_time_in_whole_milliseconds_does_not_undercut_the_stated_time() -> None:
    stated = BROKER + timedelta(microseconds=700)  # the API's receipt, stamped by the broker at .000
    data = value(reported_at=stated)
    assert stored(data, sign(data, COUNTY))[0] == stated
