"""`alerting user create|list|unlock|reset-password|disable`: people's accounts for the web pages at a
terminal, through the same acts as the admin's page (alerting/accounts/users.py), each written to the
operations log under --by. A temporary password is printed once and is never logged."""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accounts import users
from alerting.accounts.users import Account
from alerting.cli.common import (
    Subcommands,
    actor,
    add_actor,
    add_format,
    as_json,
    local_minute,
    prepare_database,
    with_db,
)
from alerting.cli.tables import render_table
from alerting.clock import SystemClock
from alerting.domain import Role
from alerting.policy.loader import load_policy
from alerting.policy.model import Policy
from alerting.settings import Settings

NAME = "user"
HEADERS = ["用户名", "姓名", "角色", "乡镇", "状态", "最近登录", "创建人"]


def register(commands: Subcommands) -> None:
    user = commands.add_parser(NAME, help="网页账户 / people's accounts for the web pages")
    actions = user.add_subparsers(dest="action", required=True)

    new = actions.add_parser(
        "create", help="新建账户并生成临时密码 / create an account, print its temporary password"
    )
    new.add_argument("username", help="用户名 / username")
    new.add_argument("--role", required=True, choices=[r.value for r in Role], help="角色 / role")
    new.add_argument("--township", help="乡镇（乡镇角色必填）/ township, for the township role")
    new.add_argument("--name", default="", help="姓名（默认同用户名）/ display name")
    add_actor(new)

    listing = actions.add_parser("list", help="全部账户及其状态 / every account and its state")
    add_format(listing)

    for action, text in (
        ("unlock", "解锁（清除连续失败次数）/ unlock and clear the failed sign-ins"),
        ("reset-password", "生成新的临时密码，注销其会话 / a new temporary password; ends its sessions"),
        ("disable", "停用账户，注销其会话 / disable the account and end its sessions"),
    ):
        one = actions.add_parser(action, help=text)
        one.add_argument("username", help="用户名 / username")
        add_actor(one)


async def create_account(
    settings: Settings, policy: Policy, *, username: str, role: Role, township: str | None, name: str, by: str
) -> str:
    """What `user create` does; returns the temporary password (its only copy)."""

    async def work(conn: AsyncConnection) -> str:
        _, temporary = await users.create(
            conn,
            policy,
            username=username,
            display_name=name,
            role=role,
            township=township,
            by=by,
            now=SystemClock().now(),
        )
        return temporary

    return await with_db(settings, work, write=True)


def _state(account: Account) -> str:
    if account.disabled_at:
        return "已停用"
    if account.locked_at:
        return "已锁定"
    return "待改临时密码" if account.must_change_password else "正常"


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    policy = load_policy(settings.policy)
    now = SystemClock().now()
    if args.action == "create":
        temporary = asyncio.run(
            create_account(
                settings,
                policy,
                username=args.username,
                role=Role(args.role),
                township=args.township,
                name=args.name,
                by=actor(args),
            )
        )
        print(f"已创建 / created: {args.username}")
        print(f"临时密码（只显示这一次，首次登录须修改）/ temporary password (shown once): {temporary}")
    elif args.action == "list":
        everyone = asyncio.run(with_db(settings, users.list_all))
        if args.format == "json":
            fields = ("username", "display_name", "role", "township", "locked_at", "disabled_at")
            rows = [{k: getattr(a, k) for k in (*fields, "last_sign_in_at", "created_by")} for a in everyone]
            print(as_json(rows, policy.tz), end="")
        elif not everyone:
            print("还没有账户 / no accounts yet")
        else:
            table = [
                [
                    a.username,
                    a.display_name,
                    a.role_zh,
                    a.township or "",
                    _state(a),
                    local_minute(a.last_sign_in_at, policy.tz) or "",
                    a.created_by,
                ]
                for a in everyone
            ]
            print(render_table(HEADERS, table), end="")
    elif args.action == "unlock":
        asyncio.run(
            with_db(settings, lambda c: users.unlock(c, args.username, by=actor(args), now=now), True)
        )
        print(f"已解锁 / unlocked: {args.username}")
    elif args.action == "reset-password":
        temporary = asyncio.run(
            with_db(settings, lambda c: users.reset_password(c, args.username, by=actor(args), now=now), True)
        )
        print(f"已重置 / reset: {args.username}")
        print(f"临时密码（只显示这一次，首次登录须修改）/ temporary password (shown once): {temporary}")
    else:
        asyncio.run(
            with_db(settings, lambda c: users.disable(c, args.username, by=actor(args), now=now), True)
        )
        print(f"已停用 / disabled: {args.username}")
    return 0
