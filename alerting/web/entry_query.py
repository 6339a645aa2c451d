"""The filters of the accountability pages (问责审核, 问责记录): township, kind, status, level and
period, read from the URL and turned into the auditors' EntryQuery, so that a list, its export and a
bulletin's drill-down all name exactly the same rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Query

from alerting.audit import queries
from alerting.audit.exports import finding_zh, kind_zh, status_zh
from alerting.domain import BOOKKEEPING_KINDS, ENTRY_ZH, RECLASSIFY_TO, EntryStatus, Level
from alerting.http.context import ServiceContext
from alerting.web.listing import period_choices, span_of, times

LEVEL_ZH = {"I": "Ⅰ级（特别重大）", "II": "Ⅱ级（重大）", "III": "Ⅲ级（较大）", "IV": "Ⅳ级（一般）"}
KINDS = {k: v for k, v in ENTRY_ZH.items() if k not in BOOKKEEPING_KINDS}
DECISION_ZH = {"confirm": "确认", "waive": "免责", "reclassify": "改定性"}


@dataclass(frozen=True, slots=True)
class EntryFilters:
    township: str
    kind: str
    status: str
    level: str
    period: str

    def as_dict(self) -> dict[str, str]:
        return {
            "township": self.township,
            "kind": self.kind,
            "status": self.status,
            "level": self.level,
            "period": self.period,
        }


def read_filters(
    township: str = Query("", max_length=64),
    kind: str = Query("", max_length=32),
    status: str = Query("", max_length=16),
    level: str = Query("", max_length=8),
    period: str = Query("", max_length=16),
) -> EntryFilters:
    """Unknown values are dropped (the list shows everything for that filter) rather than refused."""
    return EntryFilters(
        township.strip(),
        kind if kind in KINDS else "",
        status if status in {s.value for s in EntryStatus} else "",
        level if level in {lv.value for lv in Level} else "",
        period,
    )


def entry_query(f: EntryFilters, ctx: ServiceContext) -> tuple[queries.EntryQuery, EntryFilters]:
    """The query, and the filters as shown (the period resolved: the current quarter by default)."""
    span = span_of(f.period, ctx.clock.now(), ctx.policy.tz)
    query = queries.EntryQuery(
        township=f.township or None,
        kind=f.kind or None,
        status=EntryStatus(f.status) if f.status else None,
        level=f.level or None,
        since=span.since,
        until=span.until,
        auto_confirm=frozenset(ctx.policy.scoring.auto_confirm),
    )
    shown = EntryFilters(f.township, f.kind, f.status, f.level, span.key)
    return query, shown


def page_values(ctx: ServiceContext, shown: EntryFilters, now: datetime) -> dict[str, Any]:
    """What the filter form and the rows of both pages need."""
    return {
        "filters": shown.as_dict(),
        "townships": sorted(ctx.policy.townships),
        "kinds": KINDS,
        "statuses": {s.value: status_zh(s.value) for s in EntryStatus},
        "levels": LEVEL_ZH,
        "periods": period_choices(now, ctx.policy.tz),
        "kind_zh": kind_zh,
        "finding_zh": finding_zh,
        "status_zh": status_zh,
        "decision_zh": DECISION_ZH,
        "reclassify_to": {k.value: sorted(v) for k, v in RECLASSIFY_TO.items()},
        **times(now),
    }
