"""Feishu (飞书) custom group bot: POST a message card to the bot's webhook
(https://open.feishu.cn/open-apis/bot/v2/hook/ID) as

    {"timestamp": "TS", "sign": "…", "msg_type": "interactive", "card": {header, elements}}

with 签名校验 in the body (TS in seconds, taken at each attempt from the clock passed in); the
incident text as plain text (so nothing in a township's report can mention or link anyone), the
recipients mentioned by their Feishu ids (`<at id=…></at>`, a bot cannot mention by phone: a
recipient without `feishu_user_id` is not mentioned), one button per person opening that person's
own acknowledgement link ("值班员李四 签收"). A digest is one card: its header line, then each
member's text with its people's buttons, the union of the mentions. The body stays within 20 KB:
the texts are cut at their ends, never a button or a mention.

Feishu says in `code` (older bots: `StatusCode`) whether it took the message. No message raised
here names the URL, the secret or Feishu's msg (which may echo the request), only the code and,
for 19021, whether the clocks or the signature are to blame."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from alerting.errors import PermanentDelivery, RetryableDelivery, Throttled
from alerting.policy.channels import FeishuChannel
from alerting.policy.roster import FEISHU_USER_ID
from escalation.notify.recipients import personal_links, who
from escalation.notify.webhook import json_bytes, post_json, raise_for_status, retry_after

MAX_BODY = 20 * 1024  # bytes of the JSON body; Feishu refuses more with 9499
CUT = "…"
FREQUENCY_LIMITED = 11232  # 100 a minute and 5 a second per bot, and Feishu's own load at :00 and :30
FREQUENCY_HOLD = timedelta(seconds=10)
SIGNATURE_REFUSED = 19021
SKEW_ALLOWED = timedelta(hours=1)  # Feishu refuses a timestamp further than this from its clock
FEISHU_ID = re.compile(FEISHU_USER_ID)  # nothing else is written into an <at id=…> tag
# Measuring a body for `fits`: the signature's fields have the same length at any moment.
_SOME_MOMENT = datetime(2024, 5, 1, tzinfo=UTC)

# For probe.explain: Feishu's codes in words for an office (the others are shown by number).
ERRCODES_ZH = {
    11232: "发送过于频繁（每个机器人每分钟最多 100 条、每秒 5 条；整点和半点飞书负载高时也会出现）"
    " / too many messages (100 a minute, 5 a second per bot)",
    19001: "机器人地址无效（hook 编号错误或机器人已被移出群聊）/ the bot's webhook address is not valid",
    19002: "消息参数无效 / a field of the message is not valid",
    19021: "签名校验未通过：请检查通道的 secret 与机器人安全设置中的一致，并校准本服务器时间（NTP）"
    " / signature or timestamp refused: check the channel's secret and this server's clock",
    19022: "本服务器的出口 IP 不在机器人安全设置的 IP 白名单中"
    " / this server's IP address is not in the bot's whitelist",
    19024: "消息不含机器人安全设置中的自定义关键词：请把该关键词写入通道的 keywords"
    " / no custom keyword of the bot in the message: list it in the channel's keywords",
    9499: "请求无效（格式错误或消息超过 20 KB）/ bad request (malformed, or the message over 20 KB)",
}
# 19021 as `send` tells it apart (refusal_reason), in words for an office.
REASONS_ZH = {
    "timestamp": "时间戳无效：本服务器时钟与飞书相差 {minutes} 分钟（超过 1 小时），请校准服务器时间（NTP）"
    " / clock skew: this server's clock is {minutes} min off Feishu's",
    "signature": "签名不匹配（两边时钟一致）：请检查通道的 secret 与机器人安全设置中的一致"
    " / signature mismatch (the clocks agree): check the channel's secret",
    "required": "机器人开启了签名校验，但通道没有设置 secret"
    " / the bot wants a signature: set the channel's secret",
}


def sign(secret: str, timestamp: int) -> str:
    """Feishu's 签名校验: base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")), timestamp in
    seconds."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_fields(channel: FeishuChannel, now: datetime) -> dict[str, str]:
    """timestamp (seconds, a string) and sign for the body; {} for a bot without 签名校验."""
    if channel.secret is None:
        return {}
    timestamp = int(now.timestamp())
    return {"timestamp": str(timestamp), "sign": sign(channel.secret, timestamp)}


def is_digest(payload: dict[str, Any]) -> bool:
    return payload.get("event") == "digest" and isinstance(payload.get("members"), list)


def _parts(payload: dict[str, Any]) -> list[tuple[str, list[tuple[dict[str, Any], str]]]]:
    """(text, its people's own links) in the order shown: a digest's header line, then its members."""
    if not is_digest(payload):
        return [(str(payload.get("text") or ""), personal_links(payload))]
    members = [m for m in payload["members"] if isinstance(m, dict)]
    return [(str(payload.get("text") or ""), [])] + [
        (str(m.get("text") or ""), personal_links(m)) for m in members
    ]


def mention_ids(payload: dict[str, Any]) -> list[str]:
    """The distinct Feishu ids of the recipients (a digest's members' too) that have one, in order;
    a recipient without one, or with one that is not an id, is not mentioned (never guessed)."""
    people = list(payload.get("recipients") or ())
    if is_digest(payload):
        people += [r for m in payload["members"] if isinstance(m, dict) for r in m.get("recipients") or ()]
    found: list[str] = []
    for person in people:
        ident = person.get("feishu_user_id") if isinstance(person, dict) else None
        if isinstance(ident, str) and FEISHU_ID.fullmatch(ident) and ident not in found:
            found.append(ident)
    return found


def _title(text: str) -> str:
    """The card's header: the text's leading 【…】, or a plain 【紧急信息提醒】."""
    lead = re.match(r"【[^】]{1,30}】", text)
    return lead.group(0) if lead else "【紧急信息提醒】"


def _plain(text: str) -> dict[str, Any]:
    return {"tag": "div", "text": {"tag": "plain_text", "content": text}}


def _buttons(links: list[tuple[dict[str, Any], str]]) -> dict[str, Any]:
    """One button per person: each acknowledges in that person's name only."""
    return {
        "tag": "action",
        "actions": [
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": f"{who(r)} 签收"},
                "type": "primary",
                "url": link,
            }
            for r, link in links
        ],
    }


def card(channel: FeishuChannel, payload: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """The card showing `texts` (the parts' texts, perhaps cut) with the mentions and the buttons."""
    parts = _parts(payload)
    if channel.keywords and not any(k in t for k in channel.keywords for t in texts):
        # The bot's keyword check reads the message: put the first keyword where it is never cut.
        texts = [f"【{channel.keywords[0]}】{texts[0]}", *texts[1:]]
    elements: list[dict[str, Any]] = [_plain(texts[0])]
    if channel.mention_recipients and (ids := mention_ids(payload)):
        elements.append(
            {"tag": "div", "text": {"tag": "lark_md", "content": " ".join(f"<at id={i}></at>" for i in ids)}}
        )
    for index, ((_text, links), shown) in enumerate(zip(parts, texts, strict=True)):
        if index:
            elements += [{"tag": "hr"}, _plain(shown)]
        if links:
            elements.append(_buttons(links))
    header = {"title": {"tag": "plain_text", "content": _title(parts[0][0])}, "template": "red"}
    return {"header": header, "elements": elements}


def _body(channel: FeishuChannel, payload: dict[str, Any], signed: dict[str, str], cap: int | None) -> bytes:
    """The JSON body with every text longer than `cap` characters cut there (marked …)."""
    texts = [t if cap is None or len(t) <= cap else t[:cap] + CUT for t, _links in _parts(payload)]
    return json_bytes({**signed, "msg_type": "interactive", "card": card(channel, payload, texts)})


def fits(channel: FeishuChannel, payload: dict[str, Any]) -> bool:
    """Whether the payload (e.g. a digest) goes out whole, nothing cut, within Feishu's size limit."""
    return len(_body(channel, payload, signed_fields(channel, _SOME_MOMENT), None)) <= MAX_BODY


def encode(channel: FeishuChannel, payload: dict[str, Any], now: datetime) -> bytes:
    """The signed JSON body within MAX_BODY bytes: if need be every text is cut to the longest length
    that fits (at its end, marked …); the buttons, the mentions and the keyword are never cut.
    PermanentDelivery if even the shortest texts do not fit (hundreds of buttons)."""
    signed = signed_fields(channel, now)
    whole = _body(channel, payload, signed, None)
    if len(whole) <= MAX_BODY:
        return whole
    best = _body(channel, payload, signed, 0)
    if len(best) > MAX_BODY:
        raise PermanentDelivery(f"feishu message over {MAX_BODY} bytes without its text")
    fits_at, over = 0, max(len(t) for t, _links in _parts(payload))  # the longest cap that fits
    while over - fits_at > 1:
        middle = (fits_at + over) // 2
        candidate = _body(channel, payload, signed, middle)
        if len(candidate) <= MAX_BODY:
            fits_at, best = middle, candidate
        else:
            over = middle
    return best


def feishu_answer(response: httpx.Response) -> int:
    """The code of Feishu's answer (`code`, or an older bot's `StatusCode`). RetryableDelivery for
    429 and 5xx whatever they say, and for a 2xx without a code (delivery not confirmed: a proxy page,
    a wrong endpoint); PermanentDelivery for another non-2xx without a code."""
    if response.status_code == 429 or response.status_code >= 500:
        raise_for_status(response)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    code = None
    if isinstance(answer, dict):
        code = answer.get("code", answer.get("StatusCode"))
    if not isinstance(code, int) or isinstance(code, bool):
        raise_for_status(response)
        raise RetryableDelivery(f"HTTP {response.status_code} without a robot errcode")
    return code


def refusal_reason(channel: FeishuChannel, response: httpx.Response, now: datetime) -> str:
    """Why Feishu refused the signature (19021), told from the Date of its answer: the clock passed
    in more than an hour from Feishu's (the timestamp), the clocks agreeing (the secret), or, without
    a readable Date, either."""
    if channel.secret is None:
        return "signature required; the channel has no secret"
    try:
        theirs = parsedate_to_datetime(response.headers.get("Date") or "")
        skew = abs(now - theirs)
    except (TypeError, ValueError):
        return "signature or timestamp refused (clock skew?)"
    if skew >= SKEW_ALLOWED:
        return f"timestamp refused: this server's clock is {skew // timedelta(minutes=1)} min off Feishu's"
    return "signature refused; the clocks agree"


def _wall_clock() -> datetime:
    return datetime.now(UTC)


async def send(
    client: httpx.AsyncClient,
    channel: FeishuChannel,
    payload: dict[str, Any],
    *,
    now: Callable[[], datetime] = _wall_clock,
) -> None:
    """One attempt, signed at `now()`. Raises RetryableDelivery (transport, 5xx, 429, code 11232, no
    code) or PermanentDelivery (other non-2xx, 19021 naming the clock or the signature, 19022,
    19024, 9499 and any other code, a body too large without its text)."""
    at = now()
    response = await post_json(client, channel.url, encode(channel, payload, at), {}, channel.timeout)
    code = feishu_answer(response)  # Feishu's msg is left out: it may echo parts of the request
    if code == 0:
        return
    if code == FREQUENCY_LIMITED:  # the bot takes nothing for a moment: hold the channel
        raise Throttled(f"feishu code {code}", retry_after=retry_after(response) or FREQUENCY_HOLD)
    if code == SIGNATURE_REFUSED:
        raise PermanentDelivery(f"feishu code {code} ({refusal_reason(channel, response, at)})")
    raise PermanentDelivery(f"feishu code {code}")
