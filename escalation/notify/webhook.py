"""Generic JSON webhook: POST the payload with an Idempotency-Key header."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from alerting.channels import WebhookChannel
from alerting.errors import PermanentDelivery, RetryableDelivery


def retry_after(response: httpx.Response) -> timedelta | None:
    """Seconds or an HTTP date (relative to the Date header); None when absent or unreadable."""
    value = (response.headers.get("Retry-After") or "").strip()
    try:
        if re.fullmatch(r"[0-9]{1,7}", value):
            return timedelta(seconds=int(value))
        date = response.headers.get("Date")
        if not value or not date:
            return None
        when, base = parsedate_to_datetime(value), parsedate_to_datetime(date)
        return max(timedelta(), when - base)
    except (TypeError, ValueError, OverflowError):
        return None


async def send(client: httpx.AsyncClient, channel: WebhookChannel, payload: dict[str, Any], key: str) -> None:
    """One attempt. Raises RetryableDelivery (transport, 5xx, 429) or PermanentDelivery (other 4xx)."""
    try:
        response = await client.post(
            channel.url,
            json=payload,
            headers={**channel.headers, "Idempotency-Key": key},
            timeout=channel.timeout.total_seconds(),
        )
    except httpx.TransportError as exc:
        # The URL may carry a key: name the error type only.
        raise RetryableDelivery(f"transport error: {type(exc).__name__}") from None
    if response.status_code < 300:
        return
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableDelivery(f"HTTP {response.status_code}", retry_after=retry_after(response))
    raise PermanentDelivery(f"HTTP {response.status_code}")
