"""What the duty officers' pages share: the values their templates use (times written as in
clock_text), level and deadline words, and the stale-acknowledgement sentence."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerting.county.board import OWED, OWED_ZH
from alerting.domain import DeadlineKind
from alerting.web.clock_text import ago, countdown

LEVEL_ZH = {"I": "特别重大", "II": "重大", "III": "较大", "IV": "一般"}
STATE_ZH = {
    "pending": "未到期",
    "escalating": "已超时，提醒中",
    "exhausted": "已超时，提醒已发完",
    "met": "已完成",
    "cancelled": "已取消",
    "cleared": "已核销",
}


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
    }
