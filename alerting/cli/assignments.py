"""`alerting assignment create|list|show`: the information section's assignments (约稿) at a terminal,
through the same county acts as the API (alerting/county/assignments.py).

The API wakes the service's deadline loop after creating one (ctx.on_armed); a command runs in its
own process and cannot, so a running service sees the new rows at its next sweep of the deadline
table (ALERTING_SWEEP_INTERVAL_S, 5 s by default): reminders come hours before a due day."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timedelta
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
    moment,
    prepare_database,
    with_db,
)
from alerting.cli.tables import render_table, truncate
from alerting.clock import SystemClock
from alerting.county import assignments
from alerting.errors import CommandError
from alerting.policy.loader import load_policy
from alerting.policy.model import Policy
from alerting.settings import Settings

NAME = "assignment"
PART_ZH = {"owed": "待报送", "met": "已完成", "overdue": "逾期", "cancelled": "已取消"}
LIST_HEADERS = ["编号", "题目", "截止时间", "乡镇（完成情况）", "布置人"]


def register(commands: Subcommands) -> None:
    assignment = commands.add_parser(NAME, help="约稿：布置与查看 / assignments: give and follow up")
    actions = assignment.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="约稿 / give townships a topic with a due date")
    create.add_argument("--title", required=True, help="题目 / topic")
    due = create.add_mutually_exclusive_group(required=True)
    due.add_argument("--due", help="截止日期，当日24时前 / due by the end of this local day (ISO date)")
    due.add_argument("--due-at", help="或确切截止时间 / or an exact due time (ISO 8601; local if no offset)")
    create.add_argument(
        "--township",
        action="append",
        default=[],
        help="乡镇，可重复；不写则为全部乡镇 / a township (repeat it); none: every township",
    )
    create.add_argument("--note", default="", help="说明 / what is asked")
    add_actor(create)

    listing = actions.add_parser("list", help="约稿列表（截止晚的在前）/ assignments, latest due first")
    listing.add_argument("--township", help="只看某乡镇的 / only those given to this township, its part")
    add_format(listing)

    show = actions.add_parser("show", help="一项约稿及各乡镇完成情况 / one assignment, each township's part")
    show.add_argument("id", help="约稿编号 / assignment id")
    add_format(show)


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    policy = load_policy(settings.policy)
    tz = policy.tz
    if args.action == "create":
        created = _create(args, settings, policy)
        print("已约稿 / assignment given")
        print(_detail(created, tz), end="")
    elif args.action == "list":
        found = asyncio.run(with_db(settings, lambda conn: assignments.list_assignments(conn, args.township)))
        if args.format == "json":
            print(as_json(found), end="")
        elif not found:
            print("没有约稿 / no assignments")
        else:
            print(render_table(LIST_HEADERS, [_row(a, tz) for a in found]), end="")
            print(f"共 {len(found)} 项 / {len(found)} assignments")
    else:
        one = asyncio.run(with_db(settings, lambda conn: assignments.get(conn, args.id)))
        print(as_json(one) if args.format == "json" else _detail(one, tz), end="")
    return 0


def _due_at(args: argparse.Namespace, policy: Policy) -> datetime:
    if args.due is not None:
        due_on = day(args.due)
        assert due_on is not None
        return assignments.due_by_end_of(due_on, policy.tz)
    at = moment(args.due_at, policy)
    assert at is not None
    return at


def _create(args: argparse.Namespace, settings: Settings, policy: Policy) -> dict[str, Any]:
    title = args.title.strip()
    if not title:
        raise CommandError("请写明题目 / --title must not be blank")
    townships = tuple(dict.fromkeys(t.strip() for t in args.township if t.strip()))
    new = assignments.NewAssignment(title, args.note.strip(), _due_at(args, policy), townships)
    who = actor(args)

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        return await assignments.create(conn, new, policy, who, SystemClock().now())

    return asyncio.run(with_db(settings, work, write=True))


def _local(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else None


def _due(at: datetime, tz: ZoneInfo) -> str:
    """A due time at local midnight is the end of the day before: shown as that day's 24:00."""
    local = at.astimezone(tz)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"


def _parts(found: dict[str, Any]) -> str:
    return "、".join(f"{p['township']}（{PART_ZH.get(p['state'], p['state'])}）" for p in found["parts"])


def _row(found: dict[str, Any], tz: ZoneInfo) -> list[object]:
    return [
        found["id"],
        truncate(found["title"], 30),
        _due(found["due_at"], tz),
        _parts(found) or None,
        found["created_by"],
    ]


def _detail(found: dict[str, Any], tz: ZoneInfo) -> str:
    lines = [
        f"编号 / id: {found['id']}",
        f"题目 / title: {found['title']}",
        f"截止时间 / due: {_due(found['due_at'], tz)}",
        f"布置人 / by: {found['created_by']}（{_local(found['created_at'], tz)}）",
    ]
    if found["note"]:
        lines.append(f"说明 / note: {found['note']}")
    parts = [
        [p["township"], PART_ZH.get(p["state"], p["state"]), _local(p["met_at"], tz), p["met_by"]]
        for p in found["parts"]
    ]
    lines += ["", render_table(["乡镇", "完成情况", "完成时间", "报送编号"], parts)]
    return "\n".join(lines)
