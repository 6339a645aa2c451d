"""Group-chat robot (enterprise IM style): POST a text message, read errcode from the JSON answer.

The robot URL carries its key, so no message raised here names the URL or the robot's errmsg.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import ChatbotChannel
from alerting.policy.roster import addressed
from escalation.notify.webhook import post_json, raise_for_status, retry_after

RATE_LIMITED = 45009
SYSTEM_BUSY = -1
RETRYABLE_ERRCODES = frozenset({RATE_LIMITED, SYSTEM_BUSY})
# The robots allow about 20 messages a minute: without a Retry-After, wait out the window.
RATE_LIMIT_WAIT = timedelta(minutes=1)


def recipient_phones(payload: dict[str, Any]) -> list[str]:
    """Distinct non-empty phone numbers of payload["recipients"], in order; [] when absent."""
    phones: list[str] = []
    for recipient in payload.get("recipients") or ():
        phone = recipient.get("phone") if isinstance(recipient, dict) else None
        if isinstance(phone, str) and phone.strip() and phone.strip() not in phones:
            phones.append(phone.strip())
    return phones


def personal_links(payload: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(recipient, their own ack link) for every recipient that has one, in order."""
    found: list[tuple[dict[str, Any], str]] = []
    for recipient in payload.get("recipients") or ():
        link = recipient.get("ack_url") if isinstance(recipient, dict) else None
        if isinstance(link, str) and link:
            found.append((recipient, link))
    return found


def robot_body(channel: ChatbotChannel, payload: dict[str, Any]) -> dict[str, Any]:
    content = str(payload.get("text") or "")
    # A group reads the message: one link per person, each acknowledging in that person's name.
    for recipient, link in personal_links(payload):
        content += (
            f"\n{addressed(str(recipient.get('role') or ''), str(recipient.get('name') or ''))} 签收: {link}"
        )
    text: dict[str, Any] = {"content": content}
    if channel.mention_recipients:
        text["mentioned_mobile_list"] = recipient_phones(payload)
    return {"msgtype": "text", "text": text}


async def send(client: httpx.AsyncClient, channel: ChatbotChannel, payload: dict[str, Any], key: str) -> None:
    """One attempt. Raises RetryableDelivery (transport, 5xx, 429, errcode 45009/-1, no errcode)
    or PermanentDelivery (other 4xx, other non-zero errcode)."""
    body = robot_body(channel, payload)
    response = await post_json(client, channel.url, body, {"Idempotency-Key": key}, channel.timeout)
    raise_for_status(response)
    status = response.status_code
    try:
        answer = response.json()
    except ValueError:
        answer = None
    errcode = answer.get("errcode") if isinstance(answer, dict) else None
    if not isinstance(errcode, int) or isinstance(errcode, bool):
        # Delivery is not confirmed (a proxy page, a wrong endpoint): try again, up to max_attempts.
        raise RetryableDelivery(f"HTTP {status} without a robot errcode")
    if errcode == 0:
        return
    if errcode in RETRYABLE_ERRCODES:
        wait = retry_after(response) or (RATE_LIMIT_WAIT if errcode == RATE_LIMITED else None)
        raise RetryableDelivery(f"robot errcode {errcode}", retry_after=wait)
    # errmsg is left out: it may echo parts of the request.
    raise PermanentDelivery(f"robot errcode {errcode}")
