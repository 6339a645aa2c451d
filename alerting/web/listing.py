"""What the information section's and auditors' lists share: the person named in each act, the
period filter (a quarter or a year, default the current quarter), page links that keep the filters,
and the operations-log line written in the act's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accounts import oplog
from alerting.accounts.sessions import Session
from alerting.audit.bulletins import parse_period
from alerting.policy.calendar import quarter_of
from alerting.web.clock_text import ago, countdown

ALL = "all"  # the period filter's "every period"


def who(session: Session) -> str:
    """The name a county act records: the person's name and, to tell namesakes apart, username."""
    account = session.account
    return f"{account.display_name}（{account.username}）"


@dataclass(frozen=True, slots=True)
class Span:
    key: str  # 2026-Q1, 2026, or "all"
    since: datetime | None
    until: datetime | None


def span_of(key: str, now: datetime, tz: ZoneInfo) -> Span:
    """The period a list shows: the key if it names a quarter or a year, else the current quarter."""
    if key == ALL:
        return Span(ALL, None, None)
    try:
        _, period = parse_period(key, tz)
    except ValueError:
        period = quarter_of(now, tz)
    return Span(period.key, period.start, period.end)


def period_choices(now: datetime, tz: ZoneInfo, years: int = 2) -> list[tuple[str, str]]:
    """(key, label) for the select: this year's and last year's quarters, the years, and all."""
    year = now.astimezone(tz).year
    choices: list[tuple[str, str]] = []
    for y in range(year, year - years, -1):
        choices += [(f"{y}-Q{q}", f"{y}年第{'一二三四'[q - 1]}季度") for q in range(4, 0, -1)]
        choices.append((str(y), f"{y}年全年"))
    return [*choices, (ALL, "全部期间")]


def link(path: str, filters: dict[str, str], **more: object) -> str:
    query = {k: v for k, v in filters.items() if v} | {k: str(v) for k, v in more.items()}
    return f"{path}?{urlencode(query)}" if query else path


@dataclass(frozen=True, slots=True)
class Pager:
    page: int
    previous: str | None
    following: str | None


def pager(path: str, filters: dict[str, str], page: int, more: bool) -> Pager:
    return Pager(
        page,
        link(path, filters, page=page - 1) if page > 1 else None,
        link(path, filters, page=page + 1) if more else None,
    )


async def logged(
    conn: AsyncConnection, session: Session, now: datetime, action: str, target: str, **details: Any
) -> None:
    await oplog.record(
        conn, at=now, actor=session.account.username, action=action, target=target, details=details
    )


def times(now: datetime) -> dict[str, Any]:
    """What _times.html needs: the server's now and the relative texts times.js keeps up to date."""
    return {"now": now, "ago": lambda at: ago(at, now), "countdown": lambda at: countdown(at, now)}
