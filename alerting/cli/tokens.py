"""`alerting token create|list|revoke`: API tokens for machines, printed once, stored as digests."""

from __future__ import annotations

import argparse
import asyncio

from alerting import tokens
from alerting.cli.common import Subcommands, prepare_database, with_db
from alerting.cli.tables import render_table
from alerting.clock import SystemClock
from alerting.domain import Role
from alerting.errors import CommandError
from alerting.settings import Settings

NAME = "token"


def register(commands: Subcommands) -> None:
    token = commands.add_parser(NAME, help="API tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--township", help="the township a township token reports for")
    create.add_argument("--name", help="who holds the token (default: role/township)")
    token.add_parser("list", help="list tokens (holders and roles, never secrets)")
    revoke = token.add_parser("revoke", help="revoke a token by its id (see token list)")
    revoke.add_argument("id", type=int)


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    now = SystemClock().now()
    if args.action == "create":
        role = Role(args.role)
        name = args.name or (f"{role.value}/{args.township}" if args.township else role.value)
        secret = asyncio.run(
            with_db(
                settings,
                lambda conn: tokens.create(conn, name=name, role=role, township=args.township, now=now),
                write=True,
            )
        )
        print(secret)
    elif args.action == "list":
        rows = asyncio.run(with_db(settings, tokens.list_all))
        headers = ["编号", "持有人", "角色", "乡镇", "创建时间", "吊销时间"]
        print(render_table(headers, [list(r.values()) for r in rows]))
    else:
        if not asyncio.run(with_db(settings, lambda conn: tokens.revoke(conn, args.id, now), write=True)):
            raise CommandError(f"no active token with id {args.id}")
        print(f"token {args.id} revoked")
    return 0
