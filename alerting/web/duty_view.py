"""What the duty officers' pages share: times as the pages show them (countdowns, "3 分钟前"),
level and deadline words, and the stale-acknowledgement sentence."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerting.county.board import OWED, OWED_ZH
from alerting.domain import DeadlineKind

LEVEL_ZH = {"I": "特别重大", "II": "重大", "III": "较大", "IV": "一般"}
STATE_ZH = {
    "pending": "未到期",
    "escalating": "已超时，提醒中",
    "exhausted": "已超时，提醒已发完",
    "met": "已完成",
    "cancelled": "已取消",
    "cleared": "已核销",
}
# Static files of these pages, with a version so that a new release is not served from a cache.
ASSETS = "1"


def _clock(seconds: int) -> str:
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def countdown(due: datetime, now: datetime) -> str:
    """剩余 12:34 before the deadline, 已超时 05:10 after it (duty-time.js keeps it ticking)."""
    left = int((due - now).total_seconds())
    return f"剩余 {_clock(left)}" if left > 0 else f"已超时 {_clock(left)}"


def ago(at: datetime, now: datetime) -> str:
    seconds = int((now - at).total_seconds())
    if seconds < 60:
        return "刚刚"
    if seconds < 3600:
        return f"{seconds // 60} 分钟前"
    if seconds < 86400:
        return f"{seconds // 3600} 小时前"
    return f"{seconds // 86400} 天前"


def already_text(by: str | None, at: datetime | None, tz: ZoneInfo) -> str:
    when = at.astimezone(tz).strftime("%H:%M") if at else "—"
    return f"已由 {by or '—'} 于 {when} 签收"


def owed_what(kind: str) -> str:
    return OWED_ZH.get(DeadlineKind(kind), kind)


def is_owed(state: str) -> bool:
    return state in OWED


def helpers(now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """Values every duty page's template uses."""
    return {
        "now": now,
        "iso": lambda at: at.isoformat(),
        "countdown": lambda due: countdown(due, now),
        "ago": lambda at: ago(at, now),
        "already": lambda by, at: already_text(by, at, tz),
        "level_zh": LEVEL_ZH,
        "state_zh": STATE_ZH,
        "owed_what": owed_what,
        "is_owed": is_owed,
        "assets": ASSETS,
    }
