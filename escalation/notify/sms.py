"""Generic HTTP SMS gateway: POST phones, a signed Chinese message and the idempotency key; each
person's acknowledgement link goes to their own number only.

Phone numbers never appear in a raised message.
"""

from __future__ import annotations

from typing import Any

import httpx

from alerting.errors import PermanentDelivery
from alerting.policy.channels import SmsChannel
from escalation.notify.recipients import personal_links, recipient_phones
from escalation.notify.webhook import post_json, raise_for_status

MAX_MESSAGE = 500


def sms_message(channel: SmsChannel, payload: dict[str, Any], link: str | None) -> str:
    """sign + text cut to MAX_MESSAGE characters; " 签收:<link>" appended only if it still fits."""
    message = (channel.sign + str(payload.get("text") or ""))[:MAX_MESSAGE]
    if link and len(message) + len(" 签收:") + len(link) <= MAX_MESSAGE:
        message += f" 签收:{link}"
    return message


def sms_requests(channel: SmsChannel, payload: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The gateway requests of one notification: one per distinct message. A number whose holder has
    an acknowledgement link gets a message with their own link, so whoever reads it signs as
    themselves; numbers without one share a message. Keys are `key`, or `key/n` when there are
    several requests (stable across retries, so the gateway can drop a repeat)."""
    links = {p: link for r, link in personal_links(payload) if (p := str(r.get("phone") or "").strip())}
    by_message: dict[str, list[str]] = {}
    for phone in recipient_phones(payload):
        by_message.setdefault(sms_message(channel, payload, links.get(phone)), []).append(phone)
    requests = []
    for n, (message, phones) in enumerate(by_message.items(), start=1):
        body: dict[str, Any] = {
            "phones": phones,
            "message": message,
            "idempotency_key": key if len(by_message) == 1 else f"{key}/{n}",
        }
        if channel.template is not None:
            body["template"] = channel.template
        requests.append(body)
    return requests


async def send(client: httpx.AsyncClient, channel: SmsChannel, payload: dict[str, Any], key: str) -> None:
    """One attempt: every request in turn. Raises RetryableDelivery (transport, 5xx, 429) or
    PermanentDelivery (other 4xx, no recipient phone numbers)."""
    requests = sms_requests(channel, payload, key)
    if not requests:
        raise PermanentDelivery("no recipient phone numbers")
    for body in requests:
        headers = {"Idempotency-Key": body["idempotency_key"]}
        response = await post_json(client, channel.url, body, headers, channel.timeout)
        raise_for_status(response)
