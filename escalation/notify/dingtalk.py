"""DingTalk (钉钉) custom group robot: 加签 in the query (encoded once), the recipients mentioned by
phone (`at.atMobiles` and `@phone` in the text), an actionCard whose buttons open each person's own
acknowledgement link, `msgUuid` as the idempotency key; the outcome is read from the JSON answer
(DingTalk answers HTTP 200 with errcode ≠ 0 when it refuses).

No message raised here names the URL, the access_token, the secret or the robot's errmsg: only the
errcode, which security check refused (keyword, signature, IP or clock skew) and, for the IP
whitelist, the address DingTalk saw."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from alerting.errors import PermanentDelivery, RetryableDelivery, Throttled
from alerting.policy.channels import DingtalkChannel
from escalation.notify.digest import is_digest, members, summary
from escalation.notify.recipients import mobiles, personal_links, plain, who
from escalation.notify.webhook import json_bytes, post_json, retry_after, robot_answer

MAX_BODY = 20_000  # bytes of the JSON body; DingTalk refuses 20,000 or more with 460101
SECURITY_REFUSED = 310000
# More than 20 messages a minute blocks the robot for 10 minutes (130101, 410100): wait it out.
BLOCKED = timedelta(minutes=10)
RETRYABLE_ERRCODES: dict[int, timedelta | None] = {130101: BLOCKED, 410100: BLOCKED, -1: None}
CUT = "…"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# For probe.explain: DingTalk's error codes in words for an office (the others are shown by number).
ERRCODES_ZH = {
    130101: "发送过于频繁（每个机器人每分钟最多 20 条，超过后限流 10 分钟）/ too many messages a minute",
    410100: "发送速度太快而被限流（限流 10 分钟）/ throttled for sending too fast",
    -1: "钉钉系统繁忙，稍后再试 / DingTalk is busy",
    300005: "access_token 不存在：请检查机器人地址 / no such access_token: check the robot's URL",
    310000: "消息校验未通过，请查看机器人的安全设置 / refused by the robot's security settings",
    400013: "群已被解散 / the group has been dissolved",
    400101: "access_token 不存在：请检查机器人地址 / no such access_token: check the robot's URL",
    400102: "机器人已停用，请群管理员启用 / the robot is disabled",
    400105: "不支持的消息类型 / the message type is not supported",
    400106: "机器人不存在，请确认机器人仍在群中 / no such robot: is it still in the group?",
    430101: "消息含有不安全的外链 / the message holds a link DingTalk deems unsafe",
    430102: "消息含有不合适的文本 / the message holds text DingTalk refuses",
    430103: "消息含有不合适的图片 / the message holds an image DingTalk refuses",
    430104: "消息含有不合适的内容 / the message holds content DingTalk refuses",
    460101: "消息过长（不得超过 20000 字节）/ the message is too long",
}
# errcode 310000 says which security check refused; `send` names it in parentheses.
REASONS_ZH = {
    "keyword": "消息不含机器人安全设置中的自定义关键词：请把该关键词写入通道的 keywords"
    " / no custom keyword of the robot in the message: list it in the channel's keywords",
    "signature": "加签校验失败：请检查通道的 secret（SEC 开头）与机器人安全设置中的一致"
    " / signature mismatch: check the channel's secret",
    "clock skew": "时间戳无效：本服务器时钟与钉钉相差超过 1 小时，请校准服务器时间（NTP）"
    " / clock skew: this server's clock is more than an hour off",
    "ip": "本服务器的出口 IP 不在机器人安全设置的 IP 地址（段）中"
    " / this server's IP address is not in the robot's whitelist",
}


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), not yet
    percent-encoded (httpx does that once, in the query)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_params(channel: DingtalkChannel, now: datetime) -> dict[str, str]:
    """timestamp (ms) and sign for the query; {} for a robot without 加签."""
    if channel.secret is None:
        return {}
    timestamp_ms = (now - _EPOCH) // timedelta(milliseconds=1)
    return {"timestamp": str(timestamp_ms), "sign": sign(channel.secret, timestamp_ms)}


def _title(text: str) -> str:
    """What the conversation list shows: the text's leading 【…】, or a plain 紧急信息提醒."""
    lead = re.match(r"【[^】]{1,30}】", text)
    return lead.group(0) if lead else "【紧急信息提醒】"


def _digest(channel: DingtalkChannel, payload: dict[str, Any], key: str, text: str) -> dict[str, Any]:
    """A digest as markdown: the header (`text`, perhaps cut), then each member's summary with a
    link per person; every member's people mentioned."""
    phones: list[str] = []
    lines = [text]
    for n, member in enumerate(members(payload), start=1):
        links = " ".join(f"[{plain(who(r))} 签收]({link})" for r, link in personal_links(member))
        lines.append(f"{n}. {plain(summary(member))} {links}".rstrip())
        if channel.mention_recipients:
            phones += [p for p in mobiles(member) if p not in phones]
    if phones:
        lines.append(" ".join(f"@{phone}" for phone in phones))
    title = _title(text)
    if channel.keywords and not any(k in title or k in "".join(lines) for k in channel.keywords):
        title, lines[0] = f"【{channel.keywords[0]}】{title}", f"【{channel.keywords[0]}】{lines[0]}"
    body: dict[str, Any] = {"msgtype": "markdown", "markdown": {"title": title, "text": "\n\n".join(lines)}}
    if channel.mention_recipients:
        body["at"] = {"atMobiles": phones, "isAtAll": False}
    body["msgUuid"] = key
    return body


def _build(channel: DingtalkChannel, payload: dict[str, Any], key: str, text: str) -> dict[str, Any]:
    """The body carrying `text` (the payload's text, perhaps cut) with the keyword, mentions, links."""
    if is_digest(payload):
        return _digest(channel, payload, key, text)
    phones = mobiles(payload) if channel.mention_recipients else []
    mentions = " ".join(f"@{phone}" for phone in phones)
    links = personal_links(payload)
    # The robot's keyword check reads what is shown: a text's content, a card's title and text.
    title = _title(text) if links else ""
    if channel.keywords and not any(k in title or k in text for k in channel.keywords):
        title, text = f"【{channel.keywords[0]}】{title}", f"【{channel.keywords[0]}】{text}"
    body: dict[str, Any]
    if not links:
        body = {"msgtype": "text", "text": {"content": f"{text}\n{mentions}" if mentions else text}}
    else:
        card: dict[str, Any] = {"title": title, "text": f"{text}\n\n{mentions}" if mentions else text}
        if len(links) == 1:
            card |= {"singleTitle": "签收", "singleURL": links[0][1]}
        else:
            # A group reads the card: one button per person, each acknowledging in that person's name.
            buttons = [{"title": f"{who(r)} 签收", "actionURL": link} for r, link in links]
            card |= {"btnOrientation": "0", "btns": buttons}
        body = {"msgtype": "actionCard", "actionCard": card}
    if channel.mention_recipients:
        body["at"] = {"atMobiles": phones, "isAtAll": False}
    body["msgUuid"] = key
    return body


def encode(channel: DingtalkChannel, payload: dict[str, Any], key: str) -> bytes:
    """The JSON body, under MAX_BODY bytes: the text is cut at its end (marked …) if need be; the
    keyword, the mentions and the links are never cut. PermanentDelivery if even an empty text does
    not fit (hundreds of buttons)."""
    text = str(payload.get("text") or "")
    whole = json_bytes(_build(channel, payload, key, text))
    if len(whole) < MAX_BODY:
        return whole
    fits, over = 0, len(text)  # the longest prefix that fits lies in [fits, over)
    shortest = json_bytes(_build(channel, payload, key, CUT))
    if len(shortest) >= MAX_BODY:
        raise PermanentDelivery(f"dingtalk message over {MAX_BODY} bytes without its text")
    best = shortest
    while over - fits > 1:
        middle = (fits + over) // 2
        candidate = json_bytes(_build(channel, payload, key, text[:middle] + CUT))
        if len(candidate) < MAX_BODY:
            fits, best = middle, candidate
        else:
            over = middle
    return best


def fits(channel: DingtalkChannel, payload: dict[str, Any]) -> bool:
    """Whether `payload` (a digest) goes in one message with nothing cut."""
    key = str(payload.get("idempotency_key") or "")
    return len(json_bytes(_build(channel, payload, key, str(payload.get("text") or "")))) < MAX_BODY


def security_reason(errmsg: str) -> str | None:
    """Which check errcode 310000 names: "keyword", "signature", "clock skew", "ip" or "ip ADDRESS";
    None when the errmsg says none of them. Reads the old English errmsg ("keywords not in content",
    "sign not match", "invalid timestamp", "ip X not in whitelist") and the newer
    "description:…;solution:…" one (whose solution text mentions the timestamp even for a signature)."""
    said = errmsg
    if described := re.search(r"(?:description|错误描述)\s*[:：]([^;；]*)", errmsg):
        said = described.group(1)
    low = said.lower()
    if "keyword" in low or "关键词" in said:
        return "keyword"
    if "whitelist" in low or "白名单" in said:
        for word in re.split(r"[\s,;，；]+", said):
            try:
                return f"ip {ipaddress.ip_address(word.strip('[]()'))}"
            except ValueError:
                continue
        return "ip"
    if "timestamp" in low or "时间戳" in said:
        return "clock skew"
    if "sign" in low or "签名" in said:
        return "signature"
    return None


def _wall_clock() -> datetime:
    return datetime.now(UTC)


async def send(
    client: httpx.AsyncClient,
    channel: DingtalkChannel,
    payload: dict[str, Any],
    key: str,
    *,
    now: Callable[[], datetime] = _wall_clock,
) -> None:
    """One attempt. Raises RetryableDelivery (transport, 5xx, 429, errcode 130101/410100/-1, no
    errcode) or PermanentDelivery (other non-2xx, errcode 310000 naming its check, any other errcode).
    `now` gives the signature's timestamp (DingTalk refuses one more than an hour off)."""
    body = encode(channel, payload, key)
    params = signed_params(channel, now())
    response = await post_json(client, channel.url, body, {}, channel.timeout, params=params)
    errcode, errmsg = robot_answer(response)
    if errcode == 0:
        return
    if errcode in RETRYABLE_ERRCODES:
        waits = [w for w in (retry_after(response), RETRYABLE_ERRCODES[errcode]) if w is not None]
        refusal = RetryableDelivery if errcode == -1 else Throttled  # 130101, 410100: the robot is blocked
        raise refusal(f"dingtalk errcode {errcode}", retry_after=max(waits, default=None))
    if errcode == SECURITY_REFUSED:
        reason = security_reason(errmsg)
        raise PermanentDelivery(f"dingtalk errcode {errcode}" + (f" ({reason})" if reason else ""))
    # errmsg is left out: it may echo parts of the request.
    raise PermanentDelivery(f"dingtalk errcode {errcode}")
