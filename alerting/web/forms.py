"""What the township's forms share: pydantic's complaints in Chinese beside the field they concern,
and local date-times from <input type="datetime-local"> (no offset) read in the policy's zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError

# Pydantic's error types, as a clerk reads them (the English message follows, for the record).
_ZH = {
    "missing": "必填",
    "string_too_short": "不能为空",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "enum": "请选择",
    "literal_error": "请选择",
    "int_parsing": "请填写整数",
    "greater_than_equal": "不能为负数",
    "less_than_equal": "数值过大",
    "datetime_parsing": "请填写日期和时间",
    "datetime_type": "请填写日期和时间",
    "timezone_aware": "请填写日期和时间",
    "too_long": "数量过多",
}
Errors = dict[str, str]


def field_errors(error: ValidationError, rename: dict[str, str] | None = None) -> Errors:
    """{form field: message}; a nested location (reporter.name) is joined with "_", and a
    model-level complaint goes under "form"."""
    found: Errors = {}
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not isinstance(p, int)]
        name = "_".join(loc) or "form"
        name = (rename or {}).get(name, name)
        zh = _ZH.get(item["type"], "")
        message = str(item["msg"]).removeprefix("Value error, ")
        found.setdefault(name, f"{zh} / {message}" if zh else message)
    return found


def local_time(value: str, tz: ZoneInfo) -> datetime | str:
    """A datetime-local value as an aware time in `tz`; the text as it was when it is not one (the
    model then names the field)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def for_input(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if at else ""


def day_range(since: str, until: str, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """A period of local days, both ends included; a malformed end is ignored."""

    def day(text: str) -> date | None:
        try:
            return date.fromisoformat(text) if text else None
        except ValueError:
            return None

    first, last = day(since), day(until)
    return (
        datetime.combine(first, time(0), tz) if first else None,
        datetime.combine(last + timedelta(days=1), time(0), tz) if last else None,
    )


def duration_zh(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes % 1440 == 0 and minutes >= 1440:
        return f"{minutes // 1440} 天"
    if minutes % 60 == 0 and minutes >= 60:
        return f"{minutes // 60} 小时"
    if minutes >= 60:
        return f"{minutes // 60} 小时 {minutes % 60} 分钟"
    return f"{minutes} 分钟"
