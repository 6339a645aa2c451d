"""Generic JSON webhook: POST the payload with an Idempotency-Key header."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import WebhookChannel


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


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any] | bytes,
    headers: dict[str, str],
    limit: timedelta,
    *,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST for every integration; a transport failure is RetryableDelivery naming the error type only
    (httpx messages may contain the URL, which can carry a key). `body` is given as bytes when the
    integration has encoded it to measure it; `params` (raw values) are merged with the URL's own query
    and percent-encoded once, by httpx (which would otherwise replace the URL's query with them)."""
    target: httpx.URL | str = url
    query: httpx.QueryParams | None = None
    if params is not None:
        own = httpx.URL(url)
        target, query = own.copy_with(query=None), own.params.merge(params)
    try:
        if isinstance(body, bytes):
            headers = {"Content-Type": "application/json", **headers}
            return await client.post(
                target, content=body, params=query, headers=headers, timeout=limit.total_seconds()
            )
        return await client.post(
            target, json=body, params=query, headers=headers, timeout=limit.total_seconds()
        )
    except httpx.HTTPError as exc:
        raise RetryableDelivery(f"transport error: {type(exc).__name__}") from None


def raise_for_status(response: httpx.Response) -> None:
    """5xx and 429 are worth another attempt (after Retry-After); any other non-2xx is not."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableDelivery(f"HTTP {status}", retry_after=retry_after(response))
    if status >= 300:
        raise PermanentDelivery(f"HTTP {status}")


async def send(client: httpx.AsyncClient, channel: WebhookChannel, payload: dict[str, Any], key: str) -> None:
    """One attempt. Raises RetryableDelivery (transport, 5xx, 429) or PermanentDelivery (other 4xx)."""
    headers = {**channel.headers, "Idempotency-Key": key}
    raise_for_status(await post_json(client, channel.url, payload, headers, channel.timeout))
