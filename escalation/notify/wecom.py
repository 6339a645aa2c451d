"""WeCom (企业微信) group robot: POST the message to the robot's webhook
(https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY, WeCom document 91770) as

    text      {"msgtype":"text","text":{"content":…,"mentioned_mobile_list":[…]}}, content ≤ 2,048 bytes
    markdown  {"msgtype":"markdown","markdown":{"content":…}}, content ≤ 4,096 bytes (no @ by phone)

each person's acknowledgement link on its own line ("值班员李四 签收: URL", in markdown
"[值班员李四 签收](URL)"); the incident text is cut, never a link. WeCom answers HTTP 200 and
says in `errcode` whether it took the message.

The key in the URL is the robot's only credential: no message raised here names the URL, the key
or the robot's errmsg (which may echo them), only the errcode."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from alerting.errors import PermanentDelivery, RetryableDelivery, Throttled
from alerting.policy.channels import WecomChannel
from escalation.notify.digest import is_digest, members, summary
from escalation.notify.recipients import mobiles, personal_links, plain, who
from escalation.notify.webhook import post_json, retry_after, robot_answer

MAX_TEXT = 2048  # bytes of a text message's content, UTF-8
MAX_MARKDOWN = 4096  # bytes of a markdown message's content; WeCom refuses more with 40058
CUT = "…"
RATE_LIMITED = 45009
# 20 messages a minute per robot: without a longer Retry-After, wait out the minute.
RATE_LIMIT_WAIT = timedelta(minutes=1)
RETRYABLE_ERRCODES: dict[int, timedelta | None] = {RATE_LIMITED: RATE_LIMIT_WAIT, 45033: None, -1: None}

# For probe.explain: WeCom's error codes in words for an office (the others are shown by number).
ERRCODES_ZH = {
    45009: "发送过于频繁（每个机器人每分钟最多 20 条），稍后再试 / too many messages a minute",
    45033: "同时发送的请求过多，稍后再试 / too many concurrent requests",
    -1: "企业微信系统繁忙，稍后再试 / WeCom is busy",
    93000: "机器人地址无效（key 错误或机器人已被移出群聊）/ the robot's webhook address is not valid",
    40008: "消息类型无效 / the message type is not valid",
    44004: "消息内容为空 / the message is empty",
    45002: "消息过长 / the message is too long",
    40058: "参数不合法（如内容超过长度上限）/ a field is not valid (e.g. the content is too long)",
}


def text_line(recipient: dict[str, Any], link: str) -> str:
    """A person's acknowledgement line in a text message: 值班员李四 签收: URL."""
    return f"{who(recipient)} 签收: {link}"


def markdown_line(recipient: dict[str, Any], link: str) -> str:
    """A person's acknowledgement link in a markdown message: [值班员李四 签收](URL)."""
    return f"[{plain(who(recipient))} 签收]({link})"


def content(text: str, lines: list[str]) -> str:
    """The text, then each line on a line of its own."""
    return "\n".join([text, *lines])


def fit(text: str, lines: list[str], limit: int) -> str:
    """content(text, lines) in at most `limit` bytes of UTF-8: if need be the text is cut at its end
    (on a character boundary, marked …) and every line kept whole. PermanentDelivery if the lines
    alone do not fit."""
    whole = content(text, lines)
    if len(whole.encode()) <= limit:
        return whole
    room = limit - len(content(CUT, lines).encode())
    if room < 0 or not text:
        raise PermanentDelivery(f"wecom message over {limit} bytes without its text")
    return content(text.encode()[:room].decode("utf-8", "ignore") + CUT, lines)


def _parts(payload: dict[str, Any], markdown: bool) -> tuple[str, list[str], list[str]]:
    """The text (cut first if need be), the lines kept whole, the mobiles to mention. A digest lists
    each member's summary with its people's links under it."""
    line, shown = (markdown_line, plain) if markdown else (text_line, str)
    text = shown(str(payload.get("text") or ""))
    if not is_digest(payload):
        return text, [line(r, link) for r, link in personal_links(payload)], mobiles(payload)
    lines: list[str] = []
    phones: list[str] = []
    for n, member in enumerate(members(payload), start=1):
        lines += [f"{n}. {shown(summary(member))}", *(line(r, link) for r, link in personal_links(member))]
        phones += [p for p in mobiles(member) if p not in phones]
    return text, lines, phones


def robot_body(channel: WecomChannel, payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON body WeCom takes, within its size limits."""
    if channel.format == "markdown":
        text, lines, _phones = _parts(payload, markdown=True)
        return {"msgtype": "markdown", "markdown": {"content": fit(text, lines, MAX_MARKDOWN)}}
    text, lines, phones = _parts(payload, markdown=False)
    fields: dict[str, Any] = {"content": fit(text, lines, MAX_TEXT)}
    if channel.mention_recipients and phones:
        fields["mentioned_mobile_list"] = phones
    return {"msgtype": "text", "text": fields}


def fits(channel: WecomChannel, payload: dict[str, Any]) -> bool:
    """Whether `payload` (a digest) goes in one message with nothing cut."""
    markdown = channel.format == "markdown"
    text, lines, _phones = _parts(payload, markdown)
    return len(content(text, lines).encode()) <= (MAX_MARKDOWN if markdown else MAX_TEXT)


async def send(client: httpx.AsyncClient, channel: WecomChannel, payload: dict[str, Any]) -> None:
    """One attempt. Raises RetryableDelivery (transport, 5xx, 429, errcode 45009/45033/-1, an answer
    without errcode) or PermanentDelivery (other non-2xx, any other errcode, lines over the limit)."""
    response = await post_json(client, channel.url, robot_body(channel, payload), {}, channel.timeout)
    errcode, _errmsg = robot_answer(response)  # errmsg is left out: it may echo the key
    if errcode == 0:
        return
    if errcode in RETRYABLE_ERRCODES:
        waits = [w for w in (retry_after(response), RETRYABLE_ERRCODES[errcode]) if w is not None]
        refusal = Throttled if errcode == RATE_LIMITED else RetryableDelivery
        raise refusal(f"wecom errcode {errcode}", retry_after=max(waits, default=None))
    raise PermanentDelivery(f"wecom errcode {errcode}")
