"""`alerting inspection record|list`: inspections of the townships' information networks (信息网络建设
检查, 六有), recorded and read at a terminal."""

from __future__ import annotations

import argparse
import asyncio
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.cli.common import (
    Subcommands,
    actor,
    add_actor,
    as_json,
    local_minute,
    positive,
    prepare_database,
    with_db,
)
from alerting.cli.tables import render_table
from alerting.clock import SystemClock
from alerting.county import inspections
from alerting.domain import NETWORK_CONDITIONS
from alerting.errors import CommandError
from alerting.policy.loader import load_policy
from alerting.settings import Settings

NAME = "inspection"
KEYS_HELP = "、".join(f"{key} {zh}" for key, zh in NETWORK_CONDITIONS.items())


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write e.g. 2026-03-20") from None


def register(commands: Subcommands) -> None:
    inspection = commands.add_parser(NAME, help="信息网络建设检查（六有）/ inspections of the network")
    actions = inspection.add_subparsers(dest="action", required=True)
    shown = argparse.ArgumentParser(add_help=False)
    shown.add_argument("--format", choices=["table", "json"], default="table")
    record = actions.add_parser(
        "record",
        parents=[shown],
        help="记录一次检查 / record an inspection",
        description=f"每项条件须写在 --met 或 --unmet 之一 / name each condition once: {KEYS_HELP}",
    )
    record.add_argument("--township", required=True, help="乡镇 / township")
    record.add_argument(
        "--on", type=_day, required=True, help="检查日期 / the day inspected, e.g. 2026-03-20"
    )
    record.add_argument("--inspector", action="append", required=True, help="检查人，可重复 / repeat")
    record.add_argument("--met", default="", help="达到的条件，逗号分隔 / conditions met, comma-separated")
    record.add_argument("--unmet", default="", help="未达到的条件，逗号分隔 / conditions not met")
    record.add_argument("--note", default="", help="检查意见 / note")
    add_actor(record)
    listing = actions.add_parser("list", parents=[shown], help="检查记录，最近的在前 / latest first")
    listing.add_argument("--township", help="乡镇 / township")
    listing.add_argument("--latest", action="store_true", help="各乡镇最近一次 / each township's latest only")
    listing.add_argument("--on", type=_day, help="with --latest: the latest on or before this day")
    listing.add_argument("--limit", type=positive, default=100)


def conditions(met: str, unmet: str) -> inspections.Conditions:
    """--met and --unmet, by key (staff) or name (有专兼职信息人员): each of the six exactly once."""
    by_name = {zh: key for key, zh in NETWORK_CONDITIONS.items()}
    found: dict[str, bool] = {}
    for text, value in ((met, True), (unmet, False)):
        for word in filter(None, (w.strip() for w in text.replace("，", ",").split(","))):
            key = by_name.get(word, word)
            if key not in NETWORK_CONDITIONS:
                raise CommandError(f"没有条件 {word} / unknown condition {word!r}; the six: {KEYS_HELP}")
            if key in found:
                raise CommandError(f"{NETWORK_CONDITIONS[key]} 写了两次 / {key} is named twice")
            found[key] = value
    missing = [NETWORK_CONDITIONS[key] for key in NETWORK_CONDITIONS if key not in found]
    if missing:
        raise CommandError(
            f"未写明：{'、'.join(missing)} / every condition must be in --met or --unmet (all six)"
        )
    return inspections.Conditions(**found)


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    policy = load_policy(settings.policy)
    tz = policy.tz
    if args.action == "record":
        names = tuple(n.strip() for n in args.inspector if n.strip())
        if not names:
            raise CommandError("检查人不能为空 / name the inspectors")
        inspection = inspections.Inspection(
            args.township, args.on, names, conditions(args.met, args.unmet), args.note
        )
        now = SystemClock().now()
        found: Any = asyncio.run(
            with_db(
                settings,
                lambda conn: inspections.record(conn, inspection, policy, actor(args), now),
                write=True,
            )
        )
        print(as_json(found, tz) if args.format == "json" else _table([found], tz), end="")
        return 0

    async def listed(conn: AsyncConnection) -> list[dict[str, Any]]:
        if args.latest:
            found = await inspections.latest(conn, args.on)
            return [i for i in found if args.township in (None, i["township"])]
        return await inspections.history(conn, args.township, args.limit)

    rows = asyncio.run(with_db(settings, listed))
    print(as_json(rows, tz) if args.format == "json" else _table(rows, tz), end="")
    return 0


def _table(rows: list[dict[str, Any]], tz: ZoneInfo) -> str:
    if not rows:
        return "没有检查记录 / no inspections\n"
    cells = [
        [
            i["id"],
            i["township"],
            i["inspected_on"].isoformat(),
            f"{i['met']}/{i['of']}",
            "、".join(i["unmet_zh"]) or None,
            "、".join(i["inspectors"]),
            i["note"] or None,
            local_minute(i["recorded_at"], tz),
        ]
        for i in rows
    ]
    headers = ["编号", "乡镇", "检查日期", "六有", "缺", "检查人", "检查意见", "记录时间"]
    return render_table(headers, cells)
