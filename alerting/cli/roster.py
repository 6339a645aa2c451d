"""`alerting roster ...`: the duty roster (值班表) and the posts at a terminal, through the same county
acts as /api/v1/directory (alerting/county/directory.py). A running service uses a change at its next
firing pass (each replica checks the directory's change log then); nothing needs a restart."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.cli import feishu_ids
from alerting.cli.common import (
    Subcommands,
    actor,
    add_actor,
    add_format,
    as_json,
    local_minute,
    moment,
    positive,
    prepare_database,
    with_db,
)
from alerting.cli.tables import render_table
from alerting.clock import SystemClock
from alerting.county import directory
from alerting.errors import CommandError
from alerting.policy.loader import load_policy
from alerting.policy.model import Policy
from alerting.policy.roster import Person, Shift, load_shifts_csv
from alerting.settings import Settings

NAME = "roster"
SHIFT_HEADERS = ["编号", "开始", "结束", "值班员", "值班员电话", "带班领导", "带班领导电话", "来源", "状态"]


def register(commands: Subcommands) -> None:
    roster = commands.add_parser(NAME, help="值班表与岗位 / the duty roster and the posts")
    actions = roster.add_subparsers(dest="action", required=True)

    imported = actions.add_parser(
        "import", help="导入值班表 CSV，替换其时段内的班次 / import the roster CSV (replaces its span)"
    )
    imported.add_argument("file", type=Path, help="CSV：开始,结束,值班员,值班员电话,带班领导,带班领导电话")
    imported.add_argument("--note", default="", help="说明 / remark")
    add_actor(imported)

    listing = actions.add_parser("list", help="班次（默认：今后 14 天）/ shifts (default: the next 14 days)")
    listing.add_argument("--from", dest="start", help="起（本地时间或带时区）/ from")
    listing.add_argument("--to", dest="end", help="止 / to")
    listing.add_argument("--withdrawn", action="store_true", help="含已撤销班次 / include withdrawn shifts")
    add_format(listing)

    add = actions.add_parser(
        "add", help="新增班次（调班）/ add a shift (a swap wins over the shift it covers)"
    )
    add.add_argument("--start", required=True, help="开始 / start, e.g. 2026-12-05T08:30")
    add.add_argument("--end", required=True, help="结束 / end")
    add.add_argument("--officer", required=True, help="值班员 / duty officer")
    add.add_argument("--phone", required=True, help="值班员电话 / the officer's phone")
    add.add_argument("--leader", help="带班领导 / leader on duty")
    add.add_argument("--leader-phone", help="带班领导电话 / the leader's phone")
    add.add_argument("--note", default="", help="说明，如：调班 / remark")
    add_actor(add)

    withdraw = actions.add_parser("withdraw", help="撤销班次（留有记录）/ withdraw a shift (kept in history)")
    withdraw.add_argument("id", type=positive, help="班次编号 / shift id (see roster list)")
    withdraw.add_argument("--note", required=True, help="撤销原因 / why")
    add_actor(withdraw)

    on_duty = actions.add_parser("on-duty", help="此刻在岗 / who holds each role (default: now)")
    on_duty.add_argument("--at", help="时刻 / at this moment")
    on_duty.add_argument("--township", help="含该乡镇负责人、信息员 / with this township's roles")
    add_format(on_duty)

    posts = actions.add_parser("posts", help="岗位与乡镇负责人 / the posts and who holds each")
    add_format(posts)

    post = actions.add_parser("set-post", help="设置岗位人员 / give a post a new holder from now on")
    post.add_argument("role", choices=list(directory.POSTS), help="岗位 / post")
    post.add_argument("--township", help="乡镇负责人岗位必填 / for township_leader")
    post.add_argument("--name", help="姓名 / name")
    post.add_argument("--phone", help="电话 / phone")
    post.add_argument("--vacant", action="store_true", help="岗位空缺 / leave the post vacant")
    post.add_argument("--note", default="", help="说明 / remark")
    add_actor(post)

    feishu_ids.register(actions)

    changes = actions.add_parser("changes", help="变更记录 / the directory's history, newest first")
    changes.add_argument("--limit", type=positive, default=50)
    add_format(changes)


def _person(name: str | None, phone: str | None, what: str) -> Person | None:
    if not name and not phone:
        return None
    if not name or not phone:
        raise CommandError(f"{what}：姓名和电话须同时填写 / give both the name and the phone")
    try:
        return Person(name=name, phone=phone)
    except ValueError:
        raise CommandError(
            f"{what}：姓名 1～50 字，电话 3～40 位数字（可含 + - ( ) 空格）/ a name of 1-50 characters, "
            "a phone of 3-40 digits, + - ( ) or spaces"
        ) from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    policy = load_policy(settings.policy)
    now = SystemClock().now()
    # Before the service ever started, the policy has not seeded the database yet: do it first, as
    # the service would, so an edit here is made on top of the policy's roster and posts.
    asyncio.run(with_db(settings, lambda conn: directory.seed_from_policy(conn, policy, now), write=True))
    if args.action == "import":
        _import(args, settings, policy, now)
    elif args.action == "list":
        start = moment(args.start, policy) or now
        end = moment(args.end, policy) or start + timedelta(days=14)
        if end <= start:
            raise CommandError("--to 须晚于 --from / --to must be after --from")
        rows = asyncio.run(
            with_db(settings, lambda conn: directory.list_shifts(conn, start, end, withdrawn=args.withdrawn))
        )
        print(as_json(rows, policy.tz) if args.format == "json" else _shifts(rows, policy), end="")
    elif args.action == "add":
        _add(args, settings, policy, now)
    elif args.action == "withdraw":

        async def withdraw(conn: AsyncConnection) -> dict[str, Any]:
            return await directory.withdraw_shift(conn, policy, args.id, actor(args), args.note.strip(), now)

        print(_shifts([asyncio.run(with_db(settings, withdraw, write=True))], policy), end="")
    elif args.action == "on-duty":
        at = moment(args.at, policy) or now
        found = asyncio.run(
            with_db(settings, lambda conn: directory.on_duty(conn, policy, at, args.township))
        )
        print(as_json(found, policy.tz) if args.format == "json" else _on_duty(found), end="")
    elif args.action == "posts":
        rows = asyncio.run(with_db(settings, lambda conn: directory.list_posts(conn, policy)))
        print(as_json(rows) if args.format == "json" else _posts(rows), end="")
    elif args.action == "set-post":
        _set_post(args, settings, policy, now)
    elif args.action == feishu_ids.ACTION:
        feishu_ids.run(args, settings, policy, now)
    else:
        rows = asyncio.run(with_db(settings, lambda conn: directory.changes(conn, args.limit)))
        print(as_json(rows) if args.format == "json" else _changes(rows, policy), end="")
    return 0


def _import(args: argparse.Namespace, settings: Settings, policy: Policy, now: datetime) -> None:
    try:
        new = load_shifts_csv(args.file, policy.tz)
    except OSError as exc:
        raise CommandError(f"无法读取 / cannot read {args.file}: {exc.strerror}") from None
    except ValueError as exc:
        raise CommandError(f"值班表有误 / bad roster: {exc}") from None

    async def work(conn: AsyncConnection) -> directory.Imported:
        return await directory.import_shifts(conn, policy, new, actor(args), args.note.strip(), "import", now)

    done = asyncio.run(with_db(settings, work, write=True))
    print(
        f"已导入 / imported: {done.added} 个班次（{local_minute(done.starts_at, policy.tz)} 至 "
        f"{local_minute(done.ends_at, policy.tz)}），替换原有 {done.replaced} 个 / replaced {done.replaced}"
    )


def _add(args: argparse.Namespace, settings: Settings, policy: Policy, now: datetime) -> None:
    start, end = moment(args.start, policy), moment(args.end, policy)
    assert start is not None and end is not None
    if end <= start:
        raise CommandError("--end 须晚于 --start / a shift must end after it starts")
    officer = _person(args.officer, args.phone, "值班员")
    assert officer is not None
    shift = Shift(
        start=start,
        end=end,
        duty_officer=officer,
        leader_on_duty=_person(args.leader, args.leader_phone, "带班领导"),
    )

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        return await directory.add_shift(conn, policy, shift, actor(args), args.note.strip(), "cli", now)

    print(_shifts([asyncio.run(with_db(settings, work, write=True))], policy), end="")


def _set_post(args: argparse.Namespace, settings: Settings, policy: Policy, now: datetime) -> None:
    holder = None if args.vacant else _person(args.name, args.phone, args.role)
    if holder is None and not args.vacant:
        raise CommandError("请给出 --name 和 --phone，或 --vacant / give --name and --phone, or --vacant")

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        return await directory.set_post(
            conn, policy, args.role, args.township, holder, actor(args), args.note.strip(), now
        )

    found = asyncio.run(with_db(settings, work, write=True))
    who = found["holder"]["name"] if found["holder"] else "空缺 / vacant"
    post = " ".join(filter(None, [found["township"], directory.POST_ZH[args.role]]))
    print(f"已设置 / set: {post} → {who}")


def _shifts(rows: list[dict[str, Any]], policy: Policy) -> str:
    if not rows:
        return "该时段没有班次 / no shifts in that period\n"

    def at(text: str) -> str | None:
        return local_minute(datetime.fromisoformat(text), policy.tz)

    return render_table(
        SHIFT_HEADERS,
        [
            [
                r["id"],
                at(r["starts_at"]),
                at(r["ends_at"]),
                r["duty_officer"]["name"],
                r["duty_officer"]["phone"],
                (r["leader_on_duty"] or {}).get("name", ""),
                (r["leader_on_duty"] or {}).get("phone", ""),
                r["source"],
                "已撤销" if r["withdrawn_by"] else "有效",
            ]
            for r in rows
        ],
    )


def _on_duty(found: dict[str, Any]) -> str:
    rows = [[h["post"], h["name"], h["phone"]] for h in found["holders"]]
    rows += [[directory.POST_ZH.get(role, role), "（无人）", ""] for role in found["unfilled"]]
    return render_table(["岗位", "姓名", "电话"], rows)


def _posts(rows: list[dict[str, Any]]) -> str:
    return render_table(
        ["岗位", "乡镇", "姓名", "电话"],
        [
            [
                r["post"],
                r["township"] or "县级",
                (r["holder"] or {}).get("name", "（空缺）"),
                (r["holder"] or {}).get("phone", ""),
            ]
            for r in rows
        ],
    )


def _changes(rows: list[dict[str, Any]], policy: Policy) -> str:
    return render_table(
        ["编号", "时间", "事项", "经办人", "说明"],
        [
            [
                r["id"],
                local_minute(datetime.fromisoformat(r["at"]), policy.tz),
                r["action_zh"],
                r["by"],
                r["note"],
            ]
            for r in rows
        ],
    )
