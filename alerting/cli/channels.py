"""`alerting channel list|test NAME`: the policy's notification channels, and a test message through
one of them with the provider's answer in plain words (the admin page's 发送测试消息, at a terminal).
A test is written to the operations log; its exit status is 0 when delivered, 1 when not."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import httpx

from alerting.accounts import oplog
from alerting.cli.common import Subcommands, actor, add_actor, as_json, prepare_database, with_db
from alerting.cli.tables import render_table
from alerting.clock import SystemClock
from alerting.county import channels
from alerting.errors import CommandError
from alerting.policy.loader import load_policy
from alerting.policy.model import Policy
from alerting.settings import Settings
from alerting.storage.engine import create_engine
from escalation.notify import probe

NAME = "channel"


def register(commands: Subcommands) -> None:
    channel = commands.add_parser(NAME, help="通知通道：查看、发送测试消息 / notification channels")
    actions = channel.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="策略中的通道 / the policy's channels")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    test = actions.add_parser("test", help="发送测试消息 / send a test message through a channel")
    test.add_argument("name", help="通道名（策略 [channels] 中的键）/ the channel's key in [channels]")
    test.add_argument(
        "--phone",
        action="append",
        default=[],
        help="接收的手机号码，可重复（短信必填）/ repeat; SMS needs one",
    )
    add_actor(test)


def run(args: argparse.Namespace, settings: Settings) -> int:
    policy = load_policy(settings.policy)
    if args.action == "list":
        print(_list(policy, args.format), end="")
        return 0
    channel = policy.channels.get(args.name)
    if channel is None:
        known = "、".join(policy.channels) or "none"
        raise CommandError(f"没有通道 {args.name} / no channel {args.name}; the channels are: {known}")
    if channel.type in channels.SMS_TYPES and not args.phone:
        raise CommandError("短信通道请用 --phone 指定接收号码 / an SMS channel needs --phone")
    prepare_database(settings)
    now, by = SystemClock().now(), actor(args)
    payload = probe.probe_payload(args.name, by, now.astimezone(policy.tz), list(args.phone))
    result = asyncio.run(_send(channel, payload, settings, args.name))

    async def record(conn: Any) -> None:
        details = result.logged(phones=len(args.phone))
        await oplog.record(conn, at=now, actor=by, action="channel_tested", target=args.name, details=details)

    asyncio.run(with_db(settings, record, write=True))
    state = "成功 / delivered" if result.delivered else "失败 / not delivered"
    kind = probe.TYPE_ZH.get(channel.type, channel.type)
    print(f"通道 {args.name}（{kind}，{channels.receiver_of(channel)}）")
    print(f"测试消息{state}：{result.explained}")
    print(f"接收方的答复 / answer: {result.detail}；用时 {result.took_ms:.0f} ms")
    return 0 if result.delivered else 1


async def _send(channel: Any, payload: dict[str, Any], settings: Settings, name: str) -> probe.Probe:
    """One test within the channel's budget, which the running service shares."""
    engine = create_engine(settings.database())
    try:
        async with httpx.AsyncClient(follow_redirects=False) as client:
            return await probe.probe(client, channel, payload, probe.Budget(engine, name, SystemClock()))
    finally:
        await engine.dispose()


def _list(policy: Policy, form: str) -> str:
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "type": channel.type,
            "host": channels.receiver_of(channel),
            "used_by": channels.used_by(policy, name),
            "limits": channels.limits_zh(channel),
        }
        for name, channel in policy.channels.items()
    ]
    if form == "json":
        return as_json(rows)
    cells = [
        [
            r["name"],
            probe.TYPE_ZH.get(r["type"], r["type"]),
            r["host"],
            r["limits"] or "不限",
            "；".join(r["used_by"]) or "—",
        ]
        for r in rows
    ]
    return render_table(["通道", "类型", "接收方", "限速", "用于"], cells)
