"""Signed messages: who wrote a record to the topic, and when the county received it.

A producer signs the record's value with HMAC-SHA256 under a key the county issued and sends two
headers: `alerting-key-id` (the key's id) and `alerting-signature` (`v1=` and the hex digest). The
topic stamps each record with the broker's receipt time (LogAppendTime), which no producer sets.

What a record is trusted for:
- signed with a county-wide key (the service's own): its `reported_at`, else the record's time;
- signed with a township's key: that township, and the broker's time (a stated `reported_at` is
  ignored: a township cannot state when the county received its report);
- unsigned, where the policy accepts it: nothing; the broker's time, the township as claimed, and
  the report is marked unsigned on its timeline.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alerting.domain import Provenance
from alerting.errors import UntrustedProducer
from alerting.producer_keys import ProducerKey

KEY_ID_HEADER = "alerting-key-id"
SIGNATURE_HEADER = "alerting-signature"
LOG_APPEND_TIME = 1  # aiokafka's timestamp_type for a broker-stamped record
BROKER_RESOLUTION = timedelta(milliseconds=1)
_SIGNATURE = re.compile(r"^v1=([0-9a-f]{64})$")


def signature(secret: bytes, value: bytes) -> str:
    return "v1=" + hmac.new(secret, value, hashlib.sha256).hexdigest()


def sign(value: bytes, key: ProducerKey) -> list[tuple[str, bytes]]:
    """The headers that attribute `value` to `key`."""
    if key.secret is None:
        raise ValueError(f"producer key {key.key_id} is revoked")
    return [
        (KEY_ID_HEADER, key.key_id.encode("ascii")),
        (SIGNATURE_HEADER, signature(key.secret, value).encode("ascii")),
    ]


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the county knows of a record before reading it."""

    record_time: datetime
    broker_stamped: bool  # record_time is the broker's (LogAppendTime), not the producer's
    key: ProducerKey | None  # verified signer; None: unsigned

    @property
    def provenance(self) -> Provenance:
        return Provenance.UNSIGNED if self.key is None else Provenance.SIGNED

    def reported_at(self, stated: datetime | None) -> datetime:
        """When the county received the report."""
        if self.key is not None and self.key.township is None:
            if stated is None:
                return self.record_time
            # Never later than the broker saw it (the broker's time is whole milliseconds).
            if self.broker_stamped and stated > self.record_time + BROKER_RESOLUTION:
                return self.record_time
            return stated
        if not self.broker_stamped:
            raise UntrustedProducer(
                "the topic keeps the producer's time (CreateTime), so the receipt time of a message "
                "not signed by a county-wide key cannot be trusted; set the topic's "
                "message.timestamp.type to LogAppendTime"
            )
        return self.record_time

    def check_township(self, township: str) -> None:
        if self.key is not None and self.key.township not in (None, township):
            raise UntrustedProducer(
                f"producer key {self.key.key_id} speaks for {self.key.township}, not for {township}"
            )


def _header(headers: list[tuple[str, bytes]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name]
    if len(values) > 1:
        raise UntrustedProducer(f"header {name} appears {len(values)} times")
    if not values:
        return None
    try:
        return values[0].decode("ascii")
    except (UnicodeDecodeError, AttributeError):
        raise UntrustedProducer(f"header {name} is not ASCII text") from None


def receive(
    value: bytes,
    headers: list[tuple[str, bytes]],
    timestamp_ms: int,
    timestamp_type: int,
    keys: dict[str, ProducerKey],
    accept_unsigned: bool,
) -> Receipt:
    """Verify a record's signature against the county's keys, or raise UntrustedProducer."""
    record_time = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    stamped = timestamp_type == LOG_APPEND_TIME
    key_id = _header(headers, KEY_ID_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    if key_id is None and given is None:
        if not accept_unsigned:
            raise UntrustedProducer(
                "unsigned message: the policy accepts only messages signed with a key the county "
                "issued (intake.accept_unsigned = false; see `alerting producer-key create`)"
            )
        return Receipt(record_time, stamped, None)
    if key_id is None or given is None:
        raise UntrustedProducer(f"a signed message needs both {KEY_ID_HEADER} and {SIGNATURE_HEADER}")
    key = keys.get(key_id)
    if key is None:
        raise UntrustedProducer(f"unknown producer key {key_id[:64]}")
    if key.secret is None:
        revoked = key.revoked_at.isoformat() if key.revoked_at else "earlier"
        raise UntrustedProducer(f"producer key {key_id} was revoked at {revoked}")
    if not _SIGNATURE.match(given):
        raise UntrustedProducer(f"{SIGNATURE_HEADER} must be v1= and 64 hex digits")
    if not hmac.compare_digest(given, signature(key.secret, value)):
        raise UntrustedProducer(f"the signature does not match the value under producer key {key_id}")
    return Receipt(record_time, stamped, key)
