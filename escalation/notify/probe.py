"""发送测试消息: one test message through one channel, sent by the integration that sends
notifications, once (not queued, not retried, on no incident's timeline), and its outcome put in
plain words for the person who pressed the button or ran `alerting channel test`.

Nothing here names the channel's URL or key: the integrations' messages never carry them."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.clock import Clock
from alerting.errors import DeliveryError, RetryableDelivery
from alerting.policy.channels import AnyChannel
from alerting.storage.engine import write_lock
from escalation.notify import aliyun_sms, budget, dingtalk, dispatch, email, feishu, tencent_sms, wecom

# The older generic robot (`chatbot`) is WeCom-shaped: WeCom's words, but not naming WeCom.
ROBOT_ERRCODES = {**wecom.ERRCODES_ZH, -1: "接收方系统繁忙，稍后再试 / the provider is busy"}
TYPE_ZH = {
    "webhook": "Webhook",
    "chatbot": "群机器人",
    "wecom": "企业微信机器人",
    "dingtalk": "钉钉机器人",
    "feishu": "飞书机器人",
    "sms": "短信网关",
    "email": "邮件",
    "aliyun_sms": "阿里云短信",
    "tencent_sms": "腾讯云短信",
}
CLOUD_SMS_CODES = {"aliyun_sms": aliyun_sms.ERRCODES_ZH, "tencent_sms": tencent_sms.ERRCODES_ZH}


@dataclass(frozen=True, slots=True)
class Probe:
    """What a test message came to."""

    delivered: bool
    retryable: bool  # a notification failing so would be tried again later
    detail: str  # the integration's own words, e.g. "HTTP 404", "robot errcode 93000"
    explained: str  # 中文 / English, for a person
    took_ms: float

    def logged(self, phones: int) -> dict[str, Any]:
        """For the operations log: how many numbers, never which."""
        return {
            "delivered": self.delivered,
            "detail": self.detail,
            "took_ms": round(self.took_ms),
            "phones": phones,
        }


def probe_payload(name: str, by: str, at: datetime, phones: list[str]) -> dict[str, Any]:
    """A notification-shaped payload that says what it is; `phones` receive it (SMS, mentions)."""
    when = at.strftime("%Y-%m-%d %H:%M")
    text = f"【测试消息】这是县委办紧急信息报送系统经通道「{name}」发送的测试消息（{by}，{when}），无需处理。"
    return {
        "test": True,
        "channel": name,
        "text": text,
        "sent_by": by,
        "sent_at": at.isoformat(),
        "recipients": [{"role": "test", "name": by, "phone": phone} for phone in phones],
    }


@dataclass(frozen=True, slots=True)
class Budget:
    """The channel's rate budget, which a test keeps to like any message: a test that broke a
    DingTalk robot's 20 a minute would block the county's alerts through it for 10 minutes."""

    engine: AsyncEngine
    name: str
    clock: Clock


async def probe(
    client: httpx.AsyncClient,
    channel: AnyChannel,
    payload: dict[str, Any],
    shared: Budget | None = None,
) -> Probe:
    """Send `payload` once through `channel`, within its budget when `shared` says where it is;
    never raises for a delivery failure."""
    grant = budget.Grant()
    if shared is not None and channel.rate_limits:
        now = shared.clock.now()
        async with write_lock(shared.engine), shared.engine.begin() as conn:
            await budget.ensure_slots(conn, shared.name, channel.rate_limits)
            grants, free_at = await budget.take(
                conn, shared.name, channel.rate_limits, 1, now, now + channel.timeout
            )
        if not grants:
            wait = max(1, round(((free_at or now) - now).total_seconds()))
            words = (
                "该通道的发送限额正被占满（可能有通知正在排队），为免触发限流，本次未发送；"
                f"请约 {wait} 秒后再试"
            )
            return Probe(
                False, True, "rate budget in use", f"{words} / the channel's rate budget is in use", 0.0
            )
        grant = grants[0]
    key = f"test/{uuid.uuid4()}"  # a fresh key: a receiver must not drop a second test as a repeat
    started = time.perf_counter()
    error: DeliveryError | None = None
    try:
        await dispatch.send(client, channel, payload, key)
    except DeliveryError as exc:
        error = exc
    took = (time.perf_counter() - started) * 1000
    if shared is not None and grant.slots:
        await _settle(shared, channel, grant, error)
    if error is not None:
        retryable = isinstance(error, RetryableDelivery)
        return Probe(False, retryable, str(error), explain(str(error), retryable), took)
    done = "发送成功，接收方已确认收到 / delivered: the receiver accepted it"
    return Probe(True, False, "ok", done, took)


async def _settle(
    shared: Budget, channel: AnyChannel, grant: budget.Grant, error: DeliveryError | None
) -> None:
    async with write_lock(shared.engine), shared.engine.begin() as conn:
        await budget.answered(conn, shared.name, channel.rate_limits, grant, shared.clock.now(), error)


def explain(detail: str, retryable: bool) -> str:
    """The integrations' failure messages (escalation/notify/*.py) in words for an office."""
    later = "；正式通知遇到此情况会自动重试" if retryable else "；正式通知遇到此情况不会重试，请先修正"
    if match := re.fullmatch(r"(.+) for (\d+) of (\d+) numbers", detail):  # a cloud SMS, some numbers
        detail, later = match.group(1), f"（{match.group(3)} 个号码中的 {match.group(2)} 个）{later}"
    if match := re.fullmatch(
        r"(aliyun_sms|tencent_sms) ([\w.]+)(?: \((?:clock skew\?|signature)\))?", detail
    ):
        kind, code = match.group(1), match.group(2)
        codes = CLOUD_SMS_CODES[kind]
        known = (
            codes.get(code) or codes.get(code.split(".")[0]) or "短信平台拒绝了请求 / the provider refused it"
        )
        return f"{TYPE_ZH[kind]}返回 {code}：{known}{later}"
    if match := re.fullmatch(r"robot errcode (-?\d+)", detail):
        code = int(match.group(1))
        known = ROBOT_ERRCODES.get(code, "接收方拒绝了消息 / the robot refused the message")
        return f"机器人返回错误码 {code}：{known}{later}"
    if match := re.fullmatch(r"wecom errcode (-?\d+)", detail):
        code = int(match.group(1))
        known = wecom.ERRCODES_ZH.get(code, "企业微信拒绝了消息 / WeCom refused the message")
        return f"企业微信机器人返回错误码 {code}：{known}{later}"
    if match := re.fullmatch(
        r"dingtalk errcode (-?\d+)(?: \((keyword|signature|clock skew|ip)( \S+)?\))?", detail
    ):
        code, reason, address = int(match.group(1)), match.group(2), match.group(3)
        known = dingtalk.ERRCODES_ZH.get(code, "钉钉拒绝了消息 / DingTalk refused the message")
        if reason:
            known = dingtalk.REASONS_ZH[reason] + (f"（钉钉所见地址：{address.strip()}）" if address else "")
        return f"钉钉机器人返回错误码 {code}：{known}{later}"
    if match := re.fullmatch(r"feishu code (-?\d+)(?: \((.+)\))?", detail):
        code = int(match.group(1))
        return f"飞书机器人返回错误码 {code}：{_feishu_words(code, match.group(2))}{later}"
    if match := re.fullmatch(
        r"HTTP (\d{3})( without an? (?:robot errcode|Tencent Cloud answer|Aliyun code))?", detail
    ):
        status = int(match.group(1))
        if match.group(2):
            what = "接收方的回答不是机器人的格式（地址可能指向了代理或其他服务）/ not a robot's answer"
        elif status == 429:
            what = "接收方限流 / the receiver is rate limiting"
        elif status >= 500:
            what = "接收方服务器出错 / the receiver failed"
        elif status in (401, 403):
            what = (
                "接收方拒绝授权：请检查密钥或签名（签名的 Webhook 还要求两端时钟相差不超过 5 分钟）"
                " / not authorised: check the key or signature (and, when signed, the clocks within 5 min)"
            )
        elif status == 404:
            what = "地址不存在：请检查通道地址 / no such address: check the channel's URL"
        else:
            what = "接收方拒绝了请求 / the receiver refused the request"
        return f"HTTP {status}：{what}{later}"
    if detail.startswith("transport error: "):
        kind = detail.removeprefix("transport error: ")
        return f"无法连接接收方（{kind}）：请检查地址、网络与防火墙 / could not reach the receiver{later}"
    if detail.startswith("no complete answer within"):
        limit = detail.removeprefix("no complete answer within ")
        return f"接收方未在 {limit} 内回答 / no answer in time{later}"
    if match := re.fullmatch(r"(wecom|feishu) message over (\d+) bytes without its text", detail):
        provider = {"wecom": ("企业微信", "WeCom"), "feishu": ("飞书", "Feishu")}[match.group(1)]
        return (
            f"各人的签收链接合计已超过{provider[0]}的 {match.group(2)} 字节上限 / the links alone are over"
            f" {provider[1]}'s size limit{later}"
        )
    if said := explain_smtp(detail):
        return f"{said}{later}"
    if detail == "no recipient phone numbers":
        return "短信通道需要至少一个手机号码 / an SMS channel needs a phone number to send to"
    if detail == "no recipient mobile numbers":
        return "短信通道需要至少一个手机号码（座机收不到短信）/ an SMS channel needs a mobile number"
    return f"{detail}{later}"


def explain_smtp(detail: str) -> str | None:
    """escalation/notify/email.py's failure messages in words for an office; None for others."""
    if match := re.fullmatch(
        r"smtp (\d{3})(?: at (\S+))?(?:: \S+ refused)?(?: for (\d+) of (\d+) recipients)?", detail
    ):
        code, step, count, of = int(match.group(1)), match.group(2), match.group(3), match.group(4)
        known = email.SMTP_CODES_ZH.get(code) or (
            "邮件服务器暂时拒绝 / the relay deferred it"
            if code < 500
            else "邮件服务器拒绝 / the relay refused it"
        )
        where = email.STEPS_ZH.get(step or "", "")
        some = f"（{of} 个收件地址中 {count} 个被拒）" if count else ""
        return f"邮件服务器{where}返回 {code}{some}：{known}"
    if match := re.fullmatch(r"certificate not trusted \((.+)\): .+", detail):
        what = email.UNTRUSTED_ZH.get(match.group(1), "证书无效")
        fix = (
            "请确认 host 写的是证书上的服务器名称"
            if match.group(1) == "hostname mismatch"
            else "内网邮件服务器使用单位自建 CA 时，请把该 CA 证书文件（PEM）的绝对路径写入通道的 ca_file"
        )
        return f"邮件服务器的证书不受信任（{what}）：{fix} / certificate not trusted: {detail}"
    if match := re.fullmatch(r"TLS handshake failed \((.+)\): check security and port", detail):
        return (
            f"加密握手失败（{match.group(1)}）：请检查 security 与 port 是否匹配"
            "（starttls 通常用 587，tls 用 465）/ TLS handshake failed: check security and port"
        )
    if detail == "smtp server does not offer STARTTLS":
        return '邮件服务器不支持 STARTTLS：如该端口为直接加密，请改为 security = "tls" / no STARTTLS offered'
    if detail == "smtp server does not offer AUTH":
        return "邮件服务器未提供登录（AUTH）：请确认该服务器需要 username/password / no AUTH offered"
    if detail == "smtp timeout":
        return "邮件服务器未在时限内回答 / the relay did not answer in time"
    return None


def _feishu_words(code: int, reason: str | None) -> str:
    """A Feishu code in words; for 19021 the cause `feishu.send` found (the clock or the secret)."""
    if reason and (skew := re.fullmatch(r"timestamp refused: .* (\d+) min off Feishu's", reason)):
        return feishu.REASONS_ZH["timestamp"].format(minutes=skew.group(1))
    if reason and reason.startswith("signature refused"):
        return feishu.REASONS_ZH["signature"]
    if reason and reason.startswith("signature required"):
        return feishu.REASONS_ZH["required"]
    return feishu.ERRCODES_ZH.get(code, "飞书拒绝了消息 / Feishu refused the message")
