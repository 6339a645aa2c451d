"""Generic JSON webhook: POST the payload with an Idempotency-Key header, signed by the Standard
Webhooks convention when the channel has a secret (https://www.standardwebhooks.com/):

    webhook-id         the notification's idempotency key, the same on every retry
    webhook-timestamp  this attempt's time, integer Unix seconds
    webhook-signature  v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>

where key is the base64 after `whsec_` and body the exact bytes sent. The secret never appears in
a header other than through its HMAC, nor in a raised message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from alerting.clock import Clock, SystemClock
from alerting.errors import PermanentDelivery, RetryableDelivery, Throttled
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


def json_bytes(body: dict[str, Any]) -> bytes:
    """The bytes sent for `body`: compact UTF-8 JSON, as httpx's `json=` encodes it. Serialised
    once, so what is signed is exactly what goes out."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any] | bytes,
    headers: Mapping[str, str],
    limit: timedelta,
    *,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST for every integration (`body` as a dict, or already serialised by json_bytes, e.g. to
    measure or sign it); a transport failure is RetryableDelivery naming the error type only (httpx
    messages may contain the URL, which can carry a key). `params` (raw values) are merged with the
    URL's own query and percent-encoded once, by httpx (which would otherwise replace the URL's query
    with them)."""
    content = body if isinstance(body, bytes) else json_bytes(body)
    sent = httpx.Headers(headers)
    sent.setdefault("Content-Type", "application/json")
    target: httpx.URL | str = url
    query: httpx.QueryParams | None = None
    if params is not None:
        own = httpx.URL(url)
        target, query = own.copy_with(query=None), own.params.merge(params)
    try:
        return await client.post(
            target, content=content, params=query, headers=sent, timeout=limit.total_seconds()
        )
    except httpx.HTTPError as exc:
        raise RetryableDelivery(f"transport error: {type(exc).__name__}") from None


def raise_for_status(response: httpx.Response) -> None:
    """5xx and 429 are worth another attempt (after Retry-After); any other non-2xx is not."""
    status = response.status_code
    if status == 429:  # the receiver's rate, not this message: a channel with a budget holds it
        raise Throttled(f"HTTP {status}", retry_after=retry_after(response))
    if status >= 500:
        raise RetryableDelivery(f"HTTP {status}", retry_after=retry_after(response))
    if status >= 300:
        raise PermanentDelivery(f"HTTP {status}")


def robot_answer(response: httpx.Response) -> tuple[int, str]:
    """The errcode and errmsg of a group robot's answer (WeCom, DingTalk: HTTP 200 with a JSON body
    whose errcode ≠ 0 is a refusal), after raise_for_status. RetryableDelivery when the answer has
    no integer errcode: delivery is not confirmed (a proxy page, a wrong endpoint). The errmsg is for
    reading only, never to raise: it may echo parts of the request."""
    raise_for_status(response)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    errcode = answer.get("errcode") if isinstance(answer, dict) else None
    if not isinstance(errcode, int) or isinstance(errcode, bool):
        raise RetryableDelivery(f"HTTP {response.status_code} without a robot errcode")
    return errcode, str(answer.get("errmsg") or "")


def webhook_id(key: str) -> str:
    """`key` as a webhook-id: the spec wants no "." in it (an incident id may have one), so "%" and
    "." are percent-encoded; distinct keys stay distinct and a key keeps its id across retries."""
    return key.replace("%", "%25").replace(".", "%2E")


def signature(signing_key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature of one attempt: `v1,` + base64 HMAC-SHA256 over id.timestamp.body."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(signing_key, signed, hashlib.sha256).digest()).decode("ascii")


def signature_headers(signing_key: bytes, key: str, now: datetime, body: bytes) -> dict[str, str]:
    msg_id, timestamp = webhook_id(key), int(now.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(signing_key, msg_id, timestamp, body),
    }


async def send(
    client: httpx.AsyncClient,
    channel: WebhookChannel,
    payload: dict[str, Any],
    key: str,
    clock: Clock | None = None,
) -> None:
    """One attempt, signed at `clock`'s now (the system clock by default) when the channel has a
    secret. Raises RetryableDelivery (transport, 5xx, 429) or PermanentDelivery (other 4xx, which
    includes a receiver refusing the signature or the timestamp)."""
    body = json_bytes(payload)
    headers = httpx.Headers(channel.headers)  # setting a header replaces a configured one of its name
    headers["Idempotency-Key"] = key
    if (signing_key := channel.signing_key()) is not None:
        headers.update(signature_headers(signing_key, key, (clock or SystemClock()).now(), body))
    raise_for_status(await post_json(client, channel.url, body, headers, channel.timeout))
