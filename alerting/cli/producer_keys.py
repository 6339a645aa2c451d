"""`alerting producer-key create|list|revoke`: keys for systems that write straight to the topic."""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting import producer_keys
from alerting.cli.common import Subcommands, prepare_database, with_db
from alerting.cli.tables import render_table
from alerting.clock import SystemClock
from alerting.errors import CommandError
from alerting.policy.loader import load_policy
from alerting.settings import Settings

NAME = "producer-key"


def register(commands: Subcommands) -> None:
    key = commands.add_parser(NAME, help="keys that sign messages written to the report topic")
    actions = key.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print its id and secret once")
    create.add_argument("--holder", required=True, help="who runs the producer, e.g. 城关镇应急平台")
    create.add_argument(
        "--township",
        help="the township the key speaks for; without it the key is county-wide and may state "
        "when the county received a report",
    )
    actions.add_parser("list", help="list keys (holders, scope, fingerprints; never secrets)")
    revoke = actions.add_parser("revoke", help="revoke a key by its id (see producer-key list)")
    revoke.add_argument("key_id")


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    now = SystemClock().now()
    if args.action == "create":
        if args.township and not load_policy(settings.policy).in_directory(args.township):
            raise CommandError(f"{args.township} 不在乡镇名录中 / is not in the policy's township directory")

        async def create(conn: AsyncConnection) -> tuple[str, str]:
            kek = await producer_keys.encryption_key(conn, settings.key_encryption_key)
            return await producer_keys.create(
                conn, holder=args.holder, township=args.township, kek=kek, now=now
            )

        key_id, secret = asyncio.run(with_db(settings, create, write=True))
        print(f"key id:  {key_id}\nsecret:  {secret}")
        print(
            "签名：HMAC-SHA256(secret, 消息体) → 消息头 alerting-key-id 与 alerting-signature: v1=<hex>\n"
            "Sign each message value with HMAC-SHA256 under the secret (as text) and send the headers "
            "alerting-key-id and alerting-signature: v1=<hex digest>. The secret is shown only now."
        )
    elif args.action == "list":
        rows = asyncio.run(with_db(settings, producer_keys.list_all))
        headers = ["密钥编号", "持有方", "乡镇", "指纹", "创建时间", "吊销时间"]
        print(render_table(headers, [list(r.values()) for r in rows]))
    else:
        revoked = asyncio.run(
            with_db(settings, lambda conn: producer_keys.revoke(conn, args.key_id, now), write=True)
        )
        if not revoked:
            raise CommandError(f"no active producer key {args.key_id}")
        print(f"producer key {args.key_id} revoked; consumers refuse it within a minute")
    return 0
