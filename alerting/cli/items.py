"""`alerting item list|show|decide|forward`: the information section's review of routine items (日常信息)
at a terminal, through the same county acts as the API (alerting/county/items.py)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.cli.common import (
    Subcommands,
    actor,
    add_actor,
    add_format,
    as_json,
    day,
    positive,
    prepare_database,
    with_db,
)
from alerting.cli.tables import render_table, truncate
from alerting.clock import SystemClock
from alerting.county import items
from alerting.domain import ADOPTION_LEVEL_ZH, ITEM_STATUS_ZH, ItemDecision, ItemStatus
from alerting.errors import CommandError
from alerting.policy.loader import load_policy
from alerting.settings import Settings

NAME = "item"
LEVELS = list(ADOPTION_LEVEL_ZH)  # county | city | province | national
LIST_HEADERS = ["编号", "乡镇", "类别", "标题", "版本", "状态", "采用级别", "报送时间", "审核人"]
DONE_ZH = {"adopted": "已采用 / adopted", "returned": "已退回 / returned", "filed": "已存档 / filed"}


def register(commands: Subcommands) -> None:
    item = commands.add_parser(NAME, help="日常信息：查看、审核、上报 / routine items: read, review, forward")
    actions = item.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="日常信息列表（新的在前）/ routine items, newest first")
    listing.add_argument("--township", help="乡镇 / township")
    listing.add_argument("--status", choices=[s.value for s in ItemStatus], help="状态 / status")
    listing.add_argument("--category", help="类别 / category, e.g. 社情民意")
    listing.add_argument("--limit", type=positive, default=50, help="最多条数 / at most N (default 50)")
    add_format(listing)

    show = actions.add_parser("show", help="一条信息的各版本与经过 / one item, its versions and timeline")
    show.add_argument("id", help="信息编号 / item id")
    add_format(show)

    decide = actions.add_parser(
        "decide", help="审核：采用、退回（须写理由）或存档 / adopt, return (with a reason) or file"
    )
    decide.add_argument("id", help="信息编号 / item id")
    decide.add_argument(
        "--version",
        type=positive,
        required=True,
        help="所审核的版本；已有新版本则拒绝 / the version reviewed (a newer one refuses the decision)",
    )
    add_actor(decide)
    decisions = decide.add_subparsers(dest="decision", required=True)
    adopt = decisions.add_parser("adopt", help="采用 / adopt")
    add_actor(adopt)
    adopt.add_argument("--level", choices=LEVELS, required=True, help="采用级别 / adopted at which level")
    adopt.add_argument("--publication", help="刊物，如《XX信息》/ publication")
    adopt.add_argument("--issue", help="期号，如 2026年第12期 / issue")
    adopt.add_argument("--published-on", help="刊发日期 / published on (ISO date)")
    adopt.add_argument("--reason", help="说明 / remark")
    returned = decisions.add_parser("return", help="退回（须写理由）/ return to the township, with a reason")
    returned.add_argument("--reason", required=True, help="退回理由 / why it goes back")
    add_actor(returned)
    filed = decisions.add_parser("file", help="存档 / file (kept, not adopted)")
    filed.add_argument("--reason", "--note", dest="reason", help="说明 / remark")
    add_actor(filed)

    forward = actions.add_parser(
        "forward", help="上报已采用的信息（县里报送，乡镇不得越级）/ record forwarding an adopted item upward"
    )
    forward.add_argument("id", help="信息编号 / item id")
    forward.add_argument("--to", required=True, help="报送对象，如 市委办 / sent to")
    forward.add_argument("--note", help="说明 / remark")
    add_actor(forward)


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    tz = load_policy(settings.policy).tz
    if args.action == "list":
        _list(args, settings, tz)
    elif args.action == "show":
        detail = asyncio.run(with_db(settings, lambda conn: items.item_detail(conn, args.id, tz)))
        print(as_json(detail) if args.format == "json" else _detail(detail, tz), end="")
    elif args.action == "decide":
        _decide(args, settings, tz)
    else:
        _forward(args, settings, tz)
    return 0


def _local(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else None


def _adoption(row: dict[str, Any]) -> str | None:
    if row["status"] != ItemStatus.ADOPTED.value:
        return None
    level = ADOPTION_LEVEL_ZH.get(row["adoption_level"] or "", row["adoption_level"])
    published = f"{row['publication'] or ''}{row['publication_issue'] or ''}"
    return f"{level}（{published}）" if published else level


def _list(args: argparse.Namespace, settings: Settings, tz: ZoneInfo) -> None:
    status = ItemStatus(args.status) if args.status else None

    async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
        return await items.list_items(
            conn, township=args.township, status=status, category=args.category, limit=args.limit
        )

    found = asyncio.run(with_db(settings, work))
    if args.format == "json":
        print(as_json(found), end="")
        return
    if not found:
        print("没有符合条件的日常信息 / no routine items match")
        return
    rows = [
        [
            r["id"],
            r["township"],
            r["category"],
            truncate(r["title"], 40),
            r["version"],
            ITEM_STATUS_ZH.get(r["status"], r["status"]),
            _adoption(r),
            _local(r["submitted_at"], tz),
            r["decided_by"],
        ]
        for r in found
    ]
    print(render_table(LIST_HEADERS, rows), end="")
    more = "；可能还有更多，用 --limit 调整 / more may match" if len(found) == args.limit else ""
    print(f"共 {len(found)} 条 / {len(found)} items{more}")


def _detail(detail: dict[str, Any], tz: ZoneInfo) -> str:
    lines = [
        f"编号 / id: {detail['id']}",
        f"乡镇 / township: {detail['township']}",
        f"类别 / category: {detail['category']}",
        f"标题 / title: {detail['title']}",
        f"状态 / status: {ITEM_STATUS_ZH.get(detail['status'])}（第 {detail['version']} 版）",
    ]
    if detail["decided_at"]:
        lines.append(f"审核 / decided: {detail['decided_by']} {_local(detail['decided_at'], tz)}")
    if (adoption := _adoption(detail)) is not None:
        lines.append(f"采用 / adopted: {adoption}")
        if detail["publication_date"]:
            lines.append(f"刊发日期 / published on: {detail['publication_date']}")
    if detail["reason"]:
        lines.append(f"理由 / reason: {detail['reason']}")
    if detail["assignment_id"]:
        lines.append(f"约稿 / assignment: {detail['assignment_id']}")
    versions = [
        [v["version"], truncate(v["title"], 40), v["reporter_name"], _local(v["submitted_at"], tz)]
        for v in detail["versions"]
    ]
    lines += ["", "各版本 / versions", render_table(["版本", "标题", "报送人", "报送时间"], versions)]
    timeline = [[_local(e["at"], tz), e["actor"], e["text"]] for e in detail["timeline"]]
    lines += ["经过 / timeline", render_table(["时间", "经办人", "事项"], timeline)]
    return "\n".join(lines)


def _text(value: str | None) -> str | None:
    """As the API reads its body: surrounding blanks dropped, and a blank answer is no answer."""
    stripped = value.strip() if value is not None else None
    return stripped or None


def _decision(args: argparse.Namespace) -> items.Decision:
    kind = ItemDecision(args.decision)
    adopting = kind is ItemDecision.ADOPT
    decision = items.Decision(
        kind,
        args.version,
        _text(args.reason),
        args.level if adopting else None,
        _text(args.publication) if adopting else None,
        _text(args.issue) if adopting else None,
        day(args.published_on) if adopting else None,
    )
    if (refusal := decision.refusal()) is not None:
        raise CommandError(refusal)
    return decision


def _decide(args: argparse.Namespace, settings: Settings, tz: ZoneInfo) -> None:
    decision = _decision(args)
    who = actor(args)

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        await items.decide(conn, args.id, decision, who, tz, SystemClock().now())
        return await items.item_detail(conn, args.id, tz)

    detail = asyncio.run(with_db(settings, work, write=True))
    done = DONE_ZH[detail["status"]]
    adoption = _adoption(detail)
    print(
        f"{done}: {detail['id']} 第 {detail['version']} 版 / version {detail['version']}"
        + (f"，{adoption}" if adoption else "")
        + f"，经办人 / by {who}"
    )


def _forward(args: argparse.Namespace, settings: Settings, tz: ZoneInfo) -> None:
    to = _text(args.to)
    if to is None:
        raise CommandError("请写明报送对象 / --to names who the item is sent to")
    who = actor(args)

    async def work(conn: AsyncConnection) -> None:
        await items.forward(conn, args.id, to, _text(args.note), who, tz, SystemClock().now())

    asyncio.run(with_db(settings, work, write=True))
    print(f"已上报 / forwarded: {args.id} → {to}，经办人 / by {who}")
