"""Times as the pages write them: "剩余 12:34" / "已超时 05:10" (days from 48 h on) and "3 分钟前".
static/times.js writes the same texts as it keeps them ticking, so the two must change together."""

from __future__ import annotations

from datetime import datetime


def span(seconds: int) -> str:
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return f"{hours // 24} 天 {hours % 24} 小时"
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def countdown(due: datetime, now: datetime) -> str:
    left = int((due - now).total_seconds())
    return f"剩余 {span(left)}" if left > 0 else f"已超时 {span(left)}"


def ago(at: datetime, now: datetime) -> str:
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        return "刚刚"
    if seconds < 3600:
        return f"{seconds // 60} 分钟前"
    return f"{seconds // 3600} 小时前" if seconds < 86400 else f"{seconds // 86400} 天前"
