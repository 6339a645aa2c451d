"""`alerting officer register|end|list|show`: the register of township information officers (信息员队伍)
at a terminal, through the same county acts as the API (alerting/county/officers.py).

Every change recomputes the township's vacancies as deadline rows. The API then wakes the service's
deadline loop (ctx.on_armed); a command runs in its own process and cannot, so a running service
sees the rows at its next sweep of the deadline table (ALERTING_SWEEP_INTERVAL_S, 5 s by default).
Phone numbers are shown to the operator in the register, never logged."""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import date, datetime
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
from alerting.cli.tables import render_table
from alerting.clock import SystemClock
from alerting.county import officers
from alerting.errors import CommandError
from alerting.policy.loader import load_policy
from alerting.policy.model import Policy
from alerting.settings import Settings

NAME = "officer"
CHANGE_ZH = {"registered": "备案任职", "ended": "备案离任"}
TERM_HEADERS = ["编号", "乡镇", "姓名", "电话", "类型", "任期开始", "任期结束", "状态", "备案人"]
CHANGE_HEADERS = ["任期编号", "姓名", "事项", "生效日期", "经办人", "备案时间", "说明"]


def register(commands: Subcommands) -> None:
    officer = commands.add_parser(NAME, help="信息员名册：备案与查看 / the information officers' register")
    actions = officer.add_subparsers(dest="action", required=True)

    new = actions.add_parser("register", help="备案一段任期 / register an officer's term")
    new.add_argument("--township", required=True, help="乡镇 / township")
    new.add_argument("--name", required=True, help="姓名 / name")
    new.add_argument("--phone", required=True, help="联系电话 / phone")
    new.add_argument(
        "--employment",
        required=True,
        choices=list(officers.EMPLOYMENT_ZH),
        help="专职 full_time / 兼职 part_time",
    )
    new.add_argument("--starts-on", required=True, help="任期开始 / first day (ISO date)")
    new.add_argument("--ends-on", help="任期最后一天；不写为长期 / last day; absent: until further notice")
    new.add_argument("--note", default="", help="备案说明 / remark")
    add_actor(new)

    end = actions.add_parser("end", help="备案离任（只能一次）/ register the last day of a term (once)")
    end.add_argument("id", type=positive, help="任期编号 / term id (see officer list)")
    end.add_argument("--ends-on", required=True, help="任期最后一天 / last day (ISO date)")
    end.add_argument("--note", default="", help="说明，如 调离 / remark")
    add_actor(end)

    listing = actions.add_parser(
        "list", help="信息员名册，历任均列出 / the register, every term and change kept"
    )
    listing.add_argument("--township", help="乡镇 / township")
    listing.add_argument("--active-on", help="只看覆盖该日的任期 / only terms covering this day (ISO date)")
    add_format(listing)

    show = actions.add_parser("show", help="一段任期及其备案记录 / one term with its changes")
    show.add_argument("id", type=positive, help="任期编号 / term id")
    add_format(show)


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    policy = load_policy(settings.policy)
    tz = policy.tz
    today = SystemClock().now().astimezone(tz).date()
    if args.action == "register":
        found = _register(args, settings, policy)
        print(f"已备案 / registered: 任期 {found['id']} / term {found['id']}")
        print(_terms([found], today, tz), end="")
    elif args.action == "end":
        found = _end(args, settings, policy)
        print(f"已备案离任 / term {found['id']} ends on {found['ends_on']}")
        print(_terms([found], today, tz), end="")
    elif args.action == "list":
        listed = asyncio.run(with_db(settings, lambda conn: _register_of(conn, args)))
        if args.format == "json":
            print(as_json(listed), end="")
        elif not listed:
            print("名册中没有符合条件的任期 / no terms match")
        else:
            print(_terms(listed, today, tz), end="")
            print(f"共 {len(listed)} 段任期 / {len(listed)} terms")
    else:
        one = asyncio.run(with_db(settings, lambda conn: officers.get(conn, args.id)))
        print(as_json(one) if args.format == "json" else _terms([one], today, tz), end="")
    return 0


async def _register_of(conn: AsyncConnection, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The register with each term's changes (as `officer show` gives them)."""
    terms = await officers.register_of(conn, args.township, day(args.active_on))
    return [await officers.get(conn, term["id"]) for term in terms]


def _phone(text: str) -> str:
    phone = text.strip()
    shortest, longest = officers.PHONE_LENGTH
    if not (shortest <= len(phone) <= longest and re.fullmatch(officers.PHONE_PATTERN, phone)):
        raise CommandError(
            f"电话须为 {shortest}～{longest} 位数字（可含 + - ( ) 空格）/ "
            f"a phone is {shortest} to {longest} digits, + - ( ) or spaces"
        )
    return phone


def _required(text: str, what: str) -> str:
    if not text.strip():
        raise CommandError(f"{what} 不能为空 / must not be blank")
    return text.strip()


def _register(args: argparse.Namespace, settings: Settings, policy: Policy) -> dict[str, Any]:
    starts_on = day(args.starts_on)
    assert starts_on is not None
    term = officers.Term(
        _required(args.township, "--township"),
        _required(args.name, "--name"),
        _phone(args.phone),
        args.employment,
        starts_on,
        day(args.ends_on),
    )
    who = actor(args)

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        return await officers.register(conn, term, policy, who, args.note.strip(), SystemClock().now())

    return asyncio.run(with_db(settings, work, write=True))


def _end(args: argparse.Namespace, settings: Settings, policy: Policy) -> dict[str, Any]:
    ends_on = day(args.ends_on)
    assert ends_on is not None
    who = actor(args)

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        now = SystemClock().now()
        return await officers.end_term(conn, args.id, ends_on, policy, who, args.note.strip(), now)

    return asyncio.run(with_db(settings, work, write=True))


def _state(term: dict[str, Any], today: date) -> str:
    if term["starts_on"] > today:
        return "未到任"
    if term["ends_on"] is not None and term["ends_on"] < today:
        return "已离任"
    return "在任"


def _local(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _terms(found: list[dict[str, Any]], today: date, tz: ZoneInfo) -> str:
    """The terms, then every change registered on them, oldest first."""
    terms = [
        [
            t["id"],
            t["township"],
            t["name"],
            t["phone"],
            officers.EMPLOYMENT_ZH.get(t["employment"], t["employment"]),
            t["starts_on"].isoformat(),
            t["ends_on"].isoformat() if t["ends_on"] else "长期",
            _state(t, today),
            t["registered_by"],
        ]
        for t in found
    ]
    changes = [
        [
            t["id"],
            t["name"],
            CHANGE_ZH.get(c["kind"], c["kind"]),
            c["effective_on"].isoformat(),
            c["by"],
            _local(c["at"], tz),
            c["note"] or None,
        ]
        for t, c in sorted(((t, c) for t in found for c in t["changes"]), key=lambda tc: tc[1]["id"])
    ]
    text = render_table(TERM_HEADERS, terms)
    return text + "\n备案记录 / changes\n" + render_table(CHANGE_HEADERS, changes)
