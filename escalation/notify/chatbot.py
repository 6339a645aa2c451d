"""The older generic group-chat robot (`type = "chatbot"`, WeCom-shaped): POST a text message, read
errcode from the JSON answer. It keeps its behaviour for existing policies (every phone mentioned,
no size limit kept, only 45009 and -1 retried, "robot errcode N"); new policies use `wecom`
(escalation/notify/wecom.py), whose line format and answer reading it shares.

The robot URL carries its key, so no message raised here names the URL or the robot's errmsg.
"""

from __future__ import annotations

from typing import Any

import httpx

from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import ChatbotChannel
from escalation.notify.recipients import personal_links, recipient_phones
from escalation.notify.webhook import post_json, retry_after, robot_answer
from escalation.notify.wecom import RATE_LIMIT_WAIT, RATE_LIMITED, content, text_line

SYSTEM_BUSY = -1
RETRYABLE_ERRCODES = frozenset({RATE_LIMITED, SYSTEM_BUSY})


def robot_body(channel: ChatbotChannel, payload: dict[str, Any]) -> dict[str, Any]:
    # A group reads the message: one link per person, each acknowledging in that person's name.
    lines = [text_line(recipient, link) for recipient, link in personal_links(payload)]
    text: dict[str, Any] = {"content": content(str(payload.get("text") or ""), lines)}
    if channel.mention_recipients:
        text["mentioned_mobile_list"] = recipient_phones(payload)
    return {"msgtype": "text", "text": text}


async def send(client: httpx.AsyncClient, channel: ChatbotChannel, payload: dict[str, Any], key: str) -> None:
    """One attempt. Raises RetryableDelivery (transport, 5xx, 429, errcode 45009/-1, no errcode)
    or PermanentDelivery (other 4xx, other non-zero errcode)."""
    body = robot_body(channel, payload)
    response = await post_json(client, channel.url, body, {"Idempotency-Key": key}, channel.timeout)
    errcode, _errmsg = robot_answer(response)  # errmsg is left out: it may echo parts of the request
    if errcode == 0:
        return
    if errcode in RETRYABLE_ERRCODES:
        wait = retry_after(response) or (RATE_LIMIT_WAIT if errcode == RATE_LIMITED else None)
        raise RetryableDelivery(f"robot errcode {errcode}", retry_after=wait)
    raise PermanentDelivery(f"robot errcode {errcode}")
