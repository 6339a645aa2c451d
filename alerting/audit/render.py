"""A bulletin's content (bulletins.compute) as a printable HTML page and as an XLSX workbook."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from openpyxl import Workbook  # type: ignore[import-untyped]

from alerting.audit.exports import add_sheet, finding_zh, kind_zh, local_naive, workbook_bytes
from alerting.domain import BOOKKEEPING_KINDS, ENTRY_ZH, FINDINGS_ZH, NETWORK_CONDITIONS

QUARTER_ZH = {1: "一", 2: "二", 3: "三", 4: "四"}
ADOPTION_ZH = {"county": "县级采用", "city": "市级采用", "province": "省级采用", "national": "国家级采用"}
# Findings first (瞒报, 谎报, 迟报, ...), then the other entry kinds, in the vocabulary's order.
FINDING_ORDER = [*FINDINGS_ZH, *(k for k in ENTRY_ZH if k not in FINDINGS_ZH and k not in BOOKKEEPING_KINDS)]


def _order(key: str) -> tuple[int, str]:
    return (FINDING_ORDER.index(key) if key in FINDING_ORDER else len(FINDING_ORDER), key)


def title_of(content: dict[str, Any]) -> str:
    period = str(content["period"])
    if content["kind"] == "quarter":
        year, quarter = period.split("-Q")
        return f"{year}年第{QUARTER_ZH[int(quarter)]}季度紧急信息报送工作通报"
    return f"{period}年度紧急信息报送工作排名"


def _number(value: float | int | None) -> str:
    if value is None:
        return "—"
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def compact(value: float | int) -> float | int:
    """98.0 -> 98, 97.456 -> 97.46: points as people write them."""
    rounded = round(float(value), 2)
    return int(rounded) if rounded.is_integer() else rounded


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _local(at: datetime | str, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment.astimezone(tz).strftime(fmt)


def _span(content: dict[str, Any], tz: ZoneInfo) -> str:
    start = datetime.fromisoformat(content["start"]).astimezone(tz)
    last = (datetime.fromisoformat(content["end"]) - timedelta(microseconds=1)).astimezone(tz)
    return f"{start.year}年{start.month}月{start.day}日至{last.year}年{last.month}月{last.day}日"


def counts_zh(counts: dict[str, int], label: Callable[[str], str]) -> str:
    """'迟报 2、漏报 1' in the vocabulary's order; zero counts left out."""
    return "、".join(f"{label(k)} {n}" for k, n in sorted(counts.items(), key=lambda kv: _order(kv[0])) if n)


def candidates_zh(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return f"待审核 {total}（{counts_zh(counts, kind_zh)}）" if total else ""


def _rows(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "rank": row["rank"],
            "township": row["township"],
            "reports": row["reports"],
            "urgent": row["urgent_reports"],
            "on_time_rate": percent(row["on_time_rate"]),
            "on_time_detail": f"{row['on_time']}/{row['deadlines_due']}" if row["deadlines_due"] else "",
            "adopted": row["adopted"],
            "adoption_points": _number(row["adoption_points"]),
            "deductions": _number(row["deductions"]),
            "score": _number(row["score"]),
            "failures": counts_zh(row["failures"], finding_zh),
            "candidates": candidates_zh(row["candidates"]),
        }
        for row in content["townships"]
    ]


def _criticisms(content: dict[str, Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            "township": c["township"],
            "finding": finding_zh(c["finding"]),
            "title": c["incident_title"] or "—",
            "incident_id": c["incident_id"],
            "occurred_at": _local(c["occurred_at"], tz),
            "delay": f"{c['delay_minutes']} 分钟" if c["delay_minutes"] is not None else "—",
        }
        for c in content["criticisms"]
    ]


def _adopted_items(content: dict[str, Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    """Bulletins published before routine items existed have none."""
    return [
        {
            "township": a["township"],
            "title": a["title"],
            "level": ADOPTION_ZH.get(a["level"], a["level"]),
            "publication": f"{a['publication'] or ''}{a['issue'] or ''}" or "—",
            "adopted_at": _local(a["adopted_at"], tz),
        }
        for a in content.get("adopted_items", [])
    ]


def network_zh(inspection: dict[str, Any] | None) -> str:
    """The latest inspection's six conditions: '6/6', '5/6，缺：有相关刊物'."""
    if inspection is None:
        return "未检查"
    met = f"{inspection['met']}/{inspection['of']}"
    unmet = "、".join(NETWORK_CONDITIONS.get(key, key) for key in inspection["unmet"])
    return f"{met}，缺：{unmet}" if unmet else met


def vacancy_zh(days: int | None) -> str:
    return "未备案信息员" if days is None else f"{days} 天"


def has_network(content: dict[str, Any]) -> bool:
    """Bulletins published before inspections and officers' vacancies were counted have neither."""
    return any("officer_vacancy_days" in row for row in content["townships"])


def _network(content: dict[str, Any]) -> list[dict[str, Any]]:
    if not has_network(content):
        return []
    return [
        {
            "township": row["township"],
            "inspected_on": (row["network_inspection"] or {}).get("inspected_on", "—"),
            "conditions": network_zh(row["network_inspection"]),
            "inspectors": "、".join((row["network_inspection"] or {}).get("inspectors", [])) or "—",
            "vacancy": vacancy_zh(row["officer_vacancy_days"]),
        }
        for row in content["townships"]
    ]


def _scoring(content: dict[str, Any]) -> dict[str, Any]:
    scoring = content["scoring"]
    levels = [*ADOPTION_ZH, *sorted(set(scoring["adoption"]) - set(ADOPTION_ZH))]
    adoption = [
        (ADOPTION_ZH.get(level, level), _number(scoring["adoption"][level]))
        for level in levels
        if level in scoring["adoption"]
    ]
    deductions = [
        (finding_zh(key), _number(points))
        for key, points in sorted(scoring["deductions"].items(), key=lambda kv: _order(kv[0]))
    ]
    return {
        "base": _number(scoring["base"]),
        "adoption": adoption,
        "deductions": deductions,
        "auto_confirm": "、".join(kind_zh(k) for k in scoring.get("auto_confirm", [])),
    }


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("alerting.audit", "templates"),
        autoescape=True,  # township names and incident titles come from outside
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _values(content: dict[str, Any], published_at: datetime | None, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "title": title_of(content),
        "span": _span(content, tz),
        "computed_at": _local(content["computed_at"], tz),
        "published_at": _local(published_at, tz) if published_at else None,
        "rows": _rows(content),
        "criticisms": _criticisms(content, tz),
        "adopted_items": _adopted_items(content, tz),
        "network": _network(content),
        "scoring": _scoring(content),
    }


def bulletin_html(content: dict[str, Any], *, published_at: datetime | None, tz: ZoneInfo) -> str:
    """The bulletin as one self-contained HTML page that prints on A4; a draft says so at the top."""
    template = _environment().get_template("bulletin.html.j2")
    return template.render(**_values(content, published_at, tz), drill=None)


def bulletin_fragment(
    content: dict[str, Any],
    *,
    published_at: datetime | None,
    tz: ZoneInfo,
    drill: Callable[[str], str] | None = None,
) -> str:
    """The bulletin's <article> alone, styled by bulletin_css() served as a file (a page whose
    Content-Security-Policy admits no inline style); `drill` links each township to its entries."""
    template = _environment().get_template("bulletin_body.html.j2")
    return template.render(**_values(content, published_at, tz), drill=drill)


def bulletin_css() -> str:
    return resources.files("alerting.audit").joinpath("templates/bulletin.css").read_text("utf-8")


RANKING_COLUMNS: tuple[tuple[str, float], ...] = (
    ("排名", 6),
    ("乡镇", 14),
    ("报送条数", 10),
    ("紧急信息", 10),
    ("应报时限", 10),
    ("按时", 8),
    ("按时率", 9),
    ("采用条数", 10),
    ("采用得分", 10),
    ("扣分", 8),
    ("得分", 8),
)
CRITICISM_COLUMNS: tuple[tuple[str, float], ...] = (
    ("乡镇", 14),
    ("认定", 8),
    ("事件编号", 20),
    ("事件标题", 40),
    ("发生时间", 20),
    ("延误（分钟）", 12),
    ("问责记录编号", 14),
)


NETWORK_COLUMNS = (
    ("乡镇", 12),
    ("最近检查日期", 14),
    ("六有达标（项）", 14),
    ("未达标条件", 40),
    ("检查人", 20),
    ("信息员空缺（天）", 16),
)
ADOPTED_COLUMNS = (
    ("乡镇", 12),
    ("标题", 40),
    ("类别", 10),
    ("采用级别", 12),
    ("刊物", 16),
    ("期号", 14),
    ("采用时间", 20),
)


def bulletin_xlsx(content: dict[str, Any], tz: ZoneInfo) -> bytes:
    """Sheets 排名, 点名批评, 信息采用 and, where the content has it, 网络建设; confirmed failures get
    one numeric column per finding."""
    townships = content["townships"]
    findings = sorted({k for row in townships for k in row["failures"]}, key=_order)
    columns = [
        *RANKING_COLUMNS,
        *((finding_zh(k), 8.0) for k in findings),
        ("待审核（条）", 12.0),
        ("待审核明细", 30.0),
    ]
    ranking = [
        [
            row["rank"],
            row["township"],
            row["reports"],
            row["urgent_reports"],
            row["deadlines_due"],
            row["on_time"],
            row["on_time_rate"],
            row["adopted"],
            row["adoption_points"],
            row["deductions"],
            row["score"],
            *(row["failures"].get(k, 0) for k in findings),
            sum(row["candidates"].values()),
            counts_zh(row["candidates"], kind_zh),
        ]
        for row in townships
    ]
    criticisms = [
        [
            c["township"],
            finding_zh(c["finding"]),
            c["incident_id"],
            c["incident_title"],
            local_naive(datetime.fromisoformat(c["occurred_at"]), tz),
            c["delay_minutes"],
            c["entry_id"],
        ]
        for c in content["criticisms"]
    ]
    adopted = [
        [
            a["township"],
            a["title"],
            a["category"],
            ADOPTION_ZH.get(a["level"], a["level"]),
            a["publication"],
            a["issue"],
            local_naive(datetime.fromisoformat(a["adopted_at"]), tz),
        ]
        for a in content.get("adopted_items", [])  # none in bulletins from before routine items
    ]
    workbook = Workbook(write_only=True)
    add_sheet(workbook, "排名", columns, ranking, formats={6: "0.0%"})
    add_sheet(workbook, "点名批评", CRITICISM_COLUMNS, criticisms)
    add_sheet(workbook, "信息采用", ADOPTED_COLUMNS, adopted)
    if has_network(content):
        cells = [_network_cells(row) for row in townships]
        add_sheet(workbook, "网络建设", NETWORK_COLUMNS, cells, formats={1: "yyyy-mm-dd"})
    return workbook_bytes(workbook)


def _network_cells(row: dict[str, Any]) -> list[Any]:
    inspection = row["network_inspection"]
    if inspection is None:
        checked: list[Any] = [None, None, "未检查", None]
    else:
        checked = [
            date.fromisoformat(inspection["inspected_on"]),
            inspection["met"],
            "、".join(NETWORK_CONDITIONS.get(key, key) for key in inspection["unmet"]) or None,
            "、".join(inspection["inspectors"]),
        ]
    return [row["township"], *checked, row["officer_vacancy_days"]]
