"""Every exception the service raises on purpose, in one place.

AlertingError
├── PolicyError            the policy file is missing, unparsable or names a bad value (start-up)
├── SettingsError          an ALERTING_* environment variable is bad (start-up)
├── InvalidReport          a report fails validation (HTTP 422 / DLQ with the reason)
│   ├── UnknownSchemaVersion
│   └── UntrustedProducer  a message's signature, key or claims are refused (DLQ with the reason)
├── ConflictError          a request contradicts stored state (HTTP 409)
├── NotFound               an incident or entry does not exist (HTTP 404)
├── InvalidLink            an acknowledgement link is tampered with or expired (HTTP 400)
├── IntakeUnavailable      Kafka did not take a report in time (HTTP 503)
├── KafkaAccessError       the first contact with Kafka failed: refused credentials, an untrusted
│                          certificate, a protocol mismatch, no broker reachable (start-up)
├── CommandError           a command-line argument cannot be used (exit status 2)
├── UnknownTownship        a township not in the policy's directory (HTTP 422)
└── DeliveryError          one notification attempt failed
    ├── RetryableDelivery      transport error, 5xx, 429: try again later
    │   ├── Throttled              the channel's rate was exceeded: nothing goes before retry_after
    │   └── PartialDelivery        some numbers of an SMS got it: try again later for the others only
    └── PermanentDelivery      other 4xx or bad configuration: do not retry
"""

from __future__ import annotations

from datetime import timedelta


class AlertingError(Exception):
    """Base of every deliberate error of the service."""


class PolicyError(AlertingError):
    """The policy file cannot be used; the message names the key and, where known, the line."""

    def __init__(self, message: str, *, key: str | None = None, line: int | None = None) -> None:
        where = ""
        if key:
            where += f" [{key}]"
        if line:
            where += f" (line {line})"
        super().__init__(f"policy error{where}: {message}")
        self.reason = message
        self.key = key
        self.line = line


class SettingsError(AlertingError):
    """An ALERTING_* setting is missing or malformed."""


class InvalidReport(AlertingError):
    """A report that cannot be accepted; `reason` is safe to show to the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownSchemaVersion(InvalidReport):
    """A message declares a schema version this service does not read."""


class UntrustedProducer(InvalidReport):
    """A message the county cannot attribute: bad or missing signature, unknown or revoked key, or a
    township the key does not speak for."""


class ConflictError(AlertingError):
    """The request contradicts what is already stored."""


class NotFound(AlertingError):
    """The requested object does not exist."""


class InvalidLink(AlertingError):
    """An acknowledgement link that cannot be honoured; the message is safe to show."""


class IntakeUnavailable(AlertingError):
    """The bus did not acknowledge a report in time; the sender should retry."""


class KafkaAccessError(AlertingError):
    """Start-up could not use Kafka; the message names the ALERTING_KAFKA_* setting to check and
    never contains a secret."""


class UnknownTownship(AlertingError):
    """A township the policy's directory does not know; the message names the ones it does."""


class CommandError(AlertingError):
    """A command-line argument that cannot be used; the message says what to write instead."""


class DeliveryError(AlertingError):
    """One notification attempt failed."""


class RetryableDelivery(DeliveryError):
    """Worth another attempt, no sooner than `retry_after` when the receiver said so."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Throttled(RetryableDelivery):
    """The receiver refused for the channel's rate, not this message's: nothing more goes through
    the channel before `retry_after` (e.g. a DingTalk robot blocked for 10 minutes)."""


class PartialDelivery(RetryableDelivery):
    """Some recipients of a cloud SMS were settled (sent, or refused for good) and others are worth
    another attempt: `settled` maps each settled mobile number to "sent" or the reason it failed, so
    the next attempt sends to the others only. The numbers are never in the message."""

    def __init__(
        self, message: str, *, settled: dict[str, str], retry_after: timedelta | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.settled = settled


class PermanentDelivery(DeliveryError):
    """Another attempt would fail the same way."""
