"""`alerting audit bulletin PERIOD`: a quarter's bulletin or a year's ranking, published or a live
draft, as a table, JSON, HTML or XLSX; `--publish` freezes an ended period."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.audit import bulletins, exports
from alerting.audit.render import (
    bulletin_html,
    bulletin_xlsx,
    candidates_zh,
    compact,
    counts_zh,
    has_network,
    network_zh,
    percent,
    title_of,
)
from alerting.cli.common import Subcommands, emit, with_db
from alerting.cli.tables import render_table, truncate
from alerting.clock import SystemClock
from alerting.errors import CommandError
from alerting.policy.model import Policy
from alerting.settings import Settings


def register(audit_actions: Subcommands) -> None:
    bulletin = audit_actions.add_parser(
        "bulletin", help="季度通报、年度排名 / a quarter's bulletin or a year's ranking"
    )
    bulletin.add_argument("period", help="2026-Q1 (quarter) or 2026 (year)")
    bulletin.add_argument("--format", choices=["table", "json", "html", "xlsx"], default="table")
    bulletin.add_argument("--output", type=Path, help="write to FILE instead of standard output")
    bulletin.add_argument(
        "--publish", action="store_true", help="发布并冻结 / publish (freeze) an ended period"
    )


def run(args: argparse.Namespace, settings: Settings, policy: Policy) -> None:
    try:
        kind, period = bulletins.parse_period(args.period, policy.tz)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    now = SystemClock().now()

    async def work(conn: AsyncConnection) -> tuple[dict[str, Any], dict[str, Any] | None]:
        stored = (
            await bulletins.publish(conn, policy, kind, period, "cli", now)
            if args.publish
            else await bulletins.published(conn, kind, period.key)
        )
        if stored is not None:
            return stored["content"], stored
        return await bulletins.compute(conn, policy, kind, period, now), None

    content, stored = asyncio.run(with_db(settings, work, write=args.publish))
    published_at: datetime | None = stored["published_at"] if stored else None
    if args.publish and stored is not None:
        print(f"已发布 / published: {period.key}（{stored['content_hash']}）", file=sys.stderr)
    tz = policy.tz
    if args.format == "json":
        document = {
            "published": stored is not None,
            "published_at": published_at.isoformat() if published_at else None,
            "content_hash": stored["content_hash"] if stored else None,
            **content,
        }
        emit(json.dumps(document, ensure_ascii=False, indent=2) + "\n", args.output, "json")
    elif args.format == "html":
        emit(bulletin_html(content, published_at=published_at, tz=tz), args.output, "html")
    elif args.format == "xlsx":
        emit(bulletin_xlsx(content, tz), args.output, "xlsx")
    else:
        emit(_table(content, published_at, tz), args.output, "table")


def _table(content: dict[str, Any], published_at: datetime | None, tz: Any) -> str:
    lines = [title_of(content)]
    lines.append(
        f"发布时间 {published_at.astimezone(tz):%Y-%m-%d %H:%M}"
        if published_at
        else "草稿（未发布，数据可能变化）"
    )
    network = has_network(content)
    ranking = [
        [
            r["rank"],
            r["township"],
            r["reports"],
            r["urgent_reports"],
            percent(r["on_time_rate"]),
            r["adopted"],
            compact(r["adoption_points"]),
            compact(r["deductions"]),
            compact(r["score"]),
            counts_zh(r["failures"], exports.finding_zh) or None,
            candidates_zh(r["candidates"]) or None,
            *(_network_cells(r) if network else ()),
        ]
        for r in content["townships"]
    ]
    headers = ["排名", "乡镇", "报送条数", "紧急信息", "按时率", "采用条数", "采用得分", "扣分", "得分"]
    headers += ["问题（已认定）", "待审核"]
    if network:  # bulletins published before these were counted have no such columns
        headers += ["六有（最近检查）", "信息员空缺（天）"]
    lines.append(render_table(headers, ranking))
    lines.append("点名批评")
    criticisms = [
        [
            c["township"],
            exports.finding_zh(c["finding"]),
            truncate(c["incident_title"] or c["incident_id"] or "—", 40),
            datetime.fromisoformat(c["occurred_at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            c["delay_minutes"],
        ]
        for c in content["criticisms"]
    ]
    if criticisms:
        lines.append(render_table(["乡镇", "认定", "事件", "发生时间", "延误（分钟）"], criticisms))
    else:
        lines.append("本期无点名批评事项。\n")
    return "\n".join(lines)


def _network_cells(row: dict[str, Any]) -> tuple[str, int | None]:
    inspection = row["network_inspection"]
    checked = f"{network_zh(inspection)}（{inspection['inspected_on']}）" if inspection else "未检查"
    return checked, row["officer_vacancy_days"]
