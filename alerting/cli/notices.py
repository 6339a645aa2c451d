"""`alerting notice send|list|show`: the information section's notices to townships (通报工作动态、
报送要点) and who has read them, at a terminal."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
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
from alerting.cli.tables import render_table, truncate
from alerting.clock import SystemClock
from alerting.county import notices
from alerting.domain import NOTICE_KIND_ZH, NoticeKind
from alerting.errors import CommandError
from alerting.policy.loader import load_policy
from alerting.settings import Settings

NAME = "notice"
KINDS = [k.value for k in NoticeKind]


def register(commands: Subcommands) -> None:
    notice = commands.add_parser(NAME, help="通报工作动态、报送要点 / notices to townships and their reads")
    actions = notice.add_subparsers(dest="action", required=True)
    shown = argparse.ArgumentParser(add_help=False)
    shown.add_argument("--format", choices=["table", "json"], default="table")
    send = actions.add_parser("send", parents=[shown], help="发通报 / send a notice")
    send.add_argument(
        "--kind", required=True, choices=KINDS, help="work_update 通报工作动态 | reporting_points 报送要点"
    )
    send.add_argument("--title", required=True, help="标题 / title")
    body = send.add_mutually_exclusive_group(required=True)
    body.add_argument("--body", help="正文 / the text")
    body.add_argument("--body-file", type=Path, help="正文文件（UTF-8）/ read the text from FILE")
    send.add_argument(
        "--township", action="append", default=[], help="乡镇，可重复；不写即全部乡镇 / repeat; none: all"
    )
    add_actor(send)
    listing = actions.add_parser("list", parents=[shown], help="通报列表 / notices, newest first")
    listing.add_argument("--township", help="只列发给该乡镇的，并显示其签收 / sent to it, with its read")
    listing.add_argument("--kind", choices=KINDS)
    listing.add_argument("--limit", type=positive, default=100)
    show = actions.add_parser("show", parents=[shown], help="一条通报及各乡镇签收 / one notice and its reads")
    show.add_argument("notice_id")


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    policy = load_policy(settings.policy)
    tz = policy.tz
    if args.action == "send":
        text = _body(args)
        new = notices.NewNotice(NoticeKind(args.kind), args.title.strip(), text, tuple(args.township))
        if not new.title or not new.body:
            raise CommandError("标题和正文不能为空 / the title and the text must not be empty")
        now = SystemClock().now()
        found: Any = asyncio.run(
            with_db(settings, lambda conn: notices.send(conn, new, policy, actor(args), now), write=True)
        )
        print(as_json(found, tz) if args.format == "json" else _detail(found, tz), end="")
    elif args.action == "list":
        kind = NoticeKind(args.kind) if args.kind else None

        async def listed(conn: AsyncConnection) -> list[dict[str, Any]]:
            if args.township:
                return await notices.list_for_township(conn, args.township, kind, limit=args.limit)
            return await notices.list_sent(conn, kind, limit=args.limit)

        rows = asyncio.run(with_db(settings, listed))
        print(as_json(rows, tz) if args.format == "json" else _list(rows, tz, bool(args.township)), end="")
    else:
        found = asyncio.run(with_db(settings, lambda conn: notices.get(conn, args.notice_id)))
        print(as_json(found, tz) if args.format == "json" else _detail(found, tz), end="")
    return 0


def _body(args: argparse.Namespace) -> str:
    if args.body_file is None:
        return str(args.body).strip()
    source: Path = args.body_file
    try:
        return source.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"无法读取 / cannot read {args.body_file}: {exc}") from None


def _head(n: dict[str, Any], tz: ZoneInfo) -> list[object]:
    return [n["id"], n["kind_zh"], truncate(n["title"], 40), local_minute(n["sent_at"], tz)]


def _list(rows: list[dict[str, Any]], tz: ZoneInfo, for_township: bool) -> str:
    if for_township:
        headers = ["编号", "类别", "标题", "发送时间", "签收", "签收时间"]
        cells = [
            [
                *_head(n, tz),
                "已读" if n["read"] else "未读",
                local_minute(n["read_at"], tz),
            ]
            for n in rows
        ]
    else:
        headers = ["编号", "类别", "标题", "发送时间", "发送人", "发给（个）", "已读（个）"]
        cells = [[*_head(n, tz), n["sent_by"], n["addressed"], n["read_count"]] for n in rows]
    return render_table(headers, cells) if rows else "没有通报 / no notices\n"


def _detail(found: dict[str, Any], tz: ZoneInfo) -> str:
    to = "全部乡镇" if found["to_all"] else "、".join(r["township"] for r in found["reads"])
    lines = [
        f"{found['id']}  {NOTICE_KIND_ZH.get(found['kind'], found['kind'])}  {found['title']}",
        f"发送：{local_minute(found['sent_at'], tz)}  {found['sent_by']}  发给：{to}",
        f"已读 {len(found['read'])}，未读 {len(found['unread'])}：{'、'.join(found['unread']) or '—'}",
        "",
        found["body"],
        "",
    ]
    reads = [
        [r["township"], "已读" if r["read"] else "未读", local_minute(r["read_at"], tz), r["read_by"]]
        for r in found["reads"]
    ]
    return "\n".join(lines) + "\n" + render_table(["乡镇", "签收", "签收时间", "签收人"], reads)
