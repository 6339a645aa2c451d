"""通道: what the admin sees of each notification channel: where it sends (host only, never the URL,
which may carry a key), which escalation steps use it, and how its recent deliveries went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.policy.channels import AnyChannel, EmailChannel
from alerting.policy.model import Policy
from alerting.storage.schema import notifications

RECENT = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Activity:
    sent: int  # in the last RECENT
    failed: int  # given up, of those created in the last RECENT
    waiting: int  # pending or being sent now
    last_sent_at: datetime | None
    last_error: str | None  # of one retrying or lately given up; never a URL or a key


def host_of(url: str) -> str:
    """scheme://host[:port] of a channel's URL: its path and query may hold the robot's key."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def receiver_of(channel: AnyChannel) -> str:
    """Where a channel sends, as shown: the host of its URL, or an SMTP relay's host and port
    (smtps:// for implicit TLS); never a key, a login or a mailbox."""
    if isinstance(channel, EmailChannel):
        scheme = "smtps" if channel.security == "tls" else "smtp"
        host = f"[{channel.host}]" if ":" in channel.host else channel.host
        return f"{scheme}://{host}:{channel.smtp_port}"
    return host_of(channel.url)


SMS_TYPES = ("sms", "aliyun_sms", "tencent_sms")  # a test needs numbers to send to
NO_PHONES = ("webhook", "email")  # a test takes no numbers (nobody to @ or to text)
_WINDOWS_ZH = {1: "每秒", 60: "每分钟", 3600: "每小时", 86400: "每天"}


def limits_zh(channel: AnyChannel) -> str:
    """The channel's rate budget in words, e.g. "每分钟 100 条、每秒 5 条"; "" when unlimited."""
    said = []
    for limit in channel.rate_limits:
        seconds = int(limit.per.total_seconds())
        said.append(f"{_WINDOWS_ZH.get(seconds, f'每 {seconds} 秒')} {limit.count} 条")
    return "、".join(said)


def used_by(policy: Policy, name: str) -> list[str]:
    """Where the policy sends through channel `name`: each escalation chain with its steps using it,
    e.g. "ack（第 1、2 步）"."""
    found = []
    for kind, chain in policy.escalation.items():
        steps = [str(n) for n, step in enumerate(chain.steps, start=1) if name in step.channels]
        if steps:
            found.append(f"{kind}（第 {'、'.join(steps)} 步）")
    if name in policy.delivery_failure_channels:
        found.append("投递失败告警 delivery_failure_channels")
    return found


async def activity(conn: AsyncConnection, now: datetime) -> dict[str, Activity]:
    """Per channel that has had notifications: the last day's sent and failed, what waits now."""
    since = now - RECENT
    counted = select(
        notifications.c.channel,
        func.sum(case(((notifications.c.state == "sent") & (notifications.c.sent_at >= since), 1), else_=0)),
        func.sum(
            case(((notifications.c.state == "failed") & (notifications.c.created_at >= since), 1), else_=0)
        ),
        func.sum(case((notifications.c.state.in_(("pending", "sending")), 1), else_=0)),
        func.max(notifications.c.sent_at),  # set once sent, never otherwise
    ).group_by(notifications.c.channel)
    rows: dict[str, Any] = {r[0]: r for r in await conn.execute(counted)}
    errors = select(notifications.c.channel, notifications.c.last_error).where(
        notifications.c.id.in_(
            select(func.max(notifications.c.id))
            .where(
                notifications.c.last_error.is_not(None),  # cleared once sent: retrying, or given up lately
                notifications.c.state.in_(("pending", "sending"))
                | ((notifications.c.state == "failed") & (notifications.c.created_at >= since)),
            )
            .group_by(notifications.c.channel)
        )
    )
    last_error = {r.channel: r.last_error for r in await conn.execute(errors)}
    return {
        name: Activity(int(r[1] or 0), int(r[2] or 0), int(r[3] or 0), r[4], last_error.get(name))
        for name, r in rows.items()
    }
