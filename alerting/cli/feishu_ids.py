"""`alerting roster feishu-ids ...`: each person's Feishu id (飞书 open_id), by phone, so that a
Feishu bot can mention them (it cannot by phone), through the county act in
alerting/county/feishu_ids.py. A running service uses a change at its next firing pass."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.cli.common import Subcommands, actor, add_actor, add_format, as_json, local_minute, with_db
from alerting.cli.tables import render_table
from alerting.county import feishu_ids
from alerting.errors import CommandError
from alerting.policy.model import Policy
from alerting.settings import Settings

ACTION = "feishu-ids"


def register(actions: Subcommands) -> None:
    family = actions.add_parser(
        ACTION, help="各人的飞书 ID（飞书机器人据此 @ 人）/ people's Feishu ids, for Feishu bots' mentions"
    )
    commands = family.add_subparsers(dest="feishu_action", required=True)
    setting = commands.add_parser("set", help="设置某人的飞书 ID / give a phone its Feishu id")
    setting.add_argument("phone", help="电话（与值班表、岗位中的一致）/ the person's phone")
    setting.add_argument("feishu_user_id", help="飞书 open_id（ou_ 开头）/ the Feishu open_id (ou_…)")
    clearing = commands.add_parser("clear", help="清除某人的飞书 ID / clear a phone's Feishu id")
    clearing.add_argument("phone", help="电话 / the person's phone")
    imported = commands.add_parser(
        "import", help="从 CSV 导入（列：电话,飞书ID）/ import a CSV (电话,飞书ID)"
    )
    imported.add_argument("file", type=Path, help="CSV：电话,飞书ID（可另有姓名列；飞书ID 为空即清除）")
    for parser in (setting, clearing, imported):
        parser.add_argument("--note", default="", help="说明 / remark")
        add_actor(parser)
    add_format(commands.add_parser("list", help="当前的飞书 ID / the ids in effect"))


def run(args: argparse.Namespace, settings: Settings, policy: Policy, now: datetime) -> None:
    if args.feishu_action == "list":
        rows = asyncio.run(with_db(settings, feishu_ids.list_ids))
        print(as_json(rows) if args.format == "json" else _table(rows, policy), end="")
        return
    try:
        if args.feishu_action == "import":
            entries = feishu_ids.parse_csv(_read(args.file), str(args.file))
        else:
            entries = [feishu_ids.checked(args.phone, getattr(args, "feishu_user_id", None))]
    except ValueError as exc:
        raise CommandError(str(exc)) from None

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        return await feishu_ids.set_ids(conn, entries, actor(args), args.note.strip(), now)

    done = asyncio.run(with_db(settings, work, write=True))
    print(
        f"已设置 {done['set']} 人、清除 {done['cleared']} 人、未变 {done['unchanged']} 人"
        f" / set {done['set']}, cleared {done['cleared']}, unchanged {done['unchanged']}"
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"无法读取 / cannot read {path}: {exc.strerror}") from None


def _table(rows: list[dict[str, Any]], policy: Policy) -> str:
    if not rows:
        return "尚未设置任何飞书 ID / no Feishu ids set\n"
    return render_table(
        ["电话", "飞书 ID", "设置人", "时间", "说明"],
        [
            [
                r["phone"],
                r["feishu_user_id"],
                r["by"],
                local_minute(datetime.fromisoformat(r["at"]), policy.tz),
                r["note"],
            ]
            for r in rows
        ],
    )
