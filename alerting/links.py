"""Signed, expiring acknowledgement links: one per person an escalation is sent to."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alerting.errors import InvalidLink


@dataclass(frozen=True, slots=True)
class AckClaim:
    incident_id: str
    name: str
    role: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_of(url: str) -> str | None:
    """The token of an acknowledgement link (BASE/ack/TOKEN), None for anything else."""
    base, found, token = url.rpartition("/ack/")
    return token if found and base and token and "/" not in token else None


def expires_of(token: str) -> datetime | None:
    """When a token this service issued expires, read without checking its MAC (for a token taken
    from the service's own notifications); None when it cannot be read."""
    try:
        expires = json.loads(_unb64(token.partition(".")[0]))[3]
        return datetime.fromtimestamp(int(expires), UTC)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


class AckLinks:
    def __init__(self, secret: bytes, base_url: str, ttl: timedelta) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must be at least 16 bytes")
        self._secret = secret
        self._base = base_url.rstrip("/")
        self._ttl = ttl

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest()[:20])

    def token(self, incident_id: str, name: str, role: str, now: datetime) -> str:
        expires = int((now + self._ttl).timestamp())
        body = _b64(json.dumps([incident_id, name, role, expires], ensure_ascii=False).encode())
        return f"{body}.{self._mac(body)}"

    def url(self, incident_id: str, name: str, role: str, now: datetime) -> str:
        return f"{self._base}/ack/{self.token(incident_id, name, role, now)}"

    def verify(self, token: str, now: datetime) -> AckClaim:
        """The claim in `token`, or InvalidLink saying why (tampered, malformed, expired)."""
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            raise InvalidLink("链接无效 / the link is not valid")
        try:
            incident_id, name, role, expires = json.loads(_unb64(body))
            claim = AckClaim(
                str(incident_id), str(name), str(role), datetime.fromtimestamp(int(expires), UTC)
            )
        except (ValueError, TypeError):
            raise InvalidLink("链接无效 / the link is not valid") from None
        if now >= claim.expires_at:
            raise InvalidLink("链接已过期 / the link has expired")
        return claim
