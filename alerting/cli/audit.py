"""`alerting audit list|totals|verify|bulletin`: the accountability log and bulletins, for auditors at
a terminal (tables in Chinese, CSV and XLSX files)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.checkpoints import record_checkpoint
from alerting.accountability.verify import ChainReport, problem_zh, verify_chain
from alerting.audit import export_stream, exports, queries, tallies
from alerting.cli import bulletins
from alerting.cli.common import Subcommands, emit, emit_stream, moment, positive, prepare_database, with_db
from alerting.cli.tables import render_table, truncate
from alerting.clock import SystemClock
from alerting.domain import BOOKKEEPING_KINDS, EntryKind, EntryStatus, Level
from alerting.policy.loader import load_policy
from alerting.policy.model import Policy
from alerting.settings import Settings
from alerting.storage.engine import create_engine, reading

NAME = "audit"
TABLE_LIMIT = 100  # rows `audit list` shows in a terminal unless --limit says otherwise


def register(commands: Subcommands) -> None:
    audit_cmd = commands.add_parser(NAME, help="问责记录与通报 / the accountability log and bulletins")
    actions = audit_cmd.add_subparsers(dest="action", required=True)
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--township", help="乡镇 / township")
    filters.add_argument("--kind", choices=[k.value for k in EntryKind if k not in BOOKKEEPING_KINDS])
    filters.add_argument("--status", choices=[s.value for s in EntryStatus])
    filters.add_argument("--level", choices=[v.value for v in Level], help="事件等级 / incident level")
    filters.add_argument(
        "--since", help="发生于此时或之后 / occurred at or after (ISO 8601; local if no offset)"
    )
    filters.add_argument("--until", help="发生于此时之前 / occurred before (ISO 8601; local if no offset)")
    listing = actions.add_parser("list", parents=[filters], help="列出问责记录 / list entries")
    listing.add_argument("--limit", type=positive, help=f"at most N entries (table default {TABLE_LIMIT})")
    listing.add_argument("--format", choices=["table", "csv", "xlsx"], default="table")
    listing.add_argument("--output", type=Path, help="write to FILE instead of standard output")
    actions.add_parser("totals", parents=[filters], help="按乡镇、类型汇总 / totals by township and kind")
    verify = actions.add_parser(
        "verify",
        help="校验哈希链，完好时记录校验检查点 / verify the hash chain; when intact, record a checkpoint",
    )
    verify.add_argument(
        "--since-checkpoint",
        action="store_true",
        help="自最近的校验检查点起校验（没有时全链）/ go on from the latest checkpoint (a full run if none)",
    )
    verify.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="只校验，不记录校验检查点 / only read: record no checkpoint",
    )
    bulletins.register(actions)


def run(args: argparse.Namespace, settings: Settings) -> int:
    prepare_database(settings)
    if args.action == "verify":
        return _verify(args, settings)
    policy = load_policy(settings.policy)
    if args.action == "list":
        _list(args, settings, policy)
    elif args.action == "totals":
        _totals(args, settings, policy)
    elif args.action == "bulletin":
        bulletins.run(args, settings, policy)
    return 0


def _entry_query(args: argparse.Namespace, policy: Policy) -> queries.EntryQuery:
    return queries.EntryQuery(
        township=args.township,
        kind=args.kind,
        status=EntryStatus(args.status) if args.status else None,
        level=args.level,
        since=moment(args.since, policy),
        until=moment(args.until, policy),
        auto_confirm=frozenset(policy.scoring.auto_confirm),
    )


def _kind_cell(entry: dict[str, Any]) -> str:
    kind = exports.kind_zh(entry["kind"])
    finding = entry.get("finding")
    return f"{kind}→{exports.finding_zh(finding)}" if finding and finding != entry["kind"] else kind


def _export(args: argparse.Namespace, settings: Settings, policy: Policy) -> None:
    """Every matching entry as CSV or XLSX, read and written a batch at a time."""
    query = _entry_query(args, policy)
    count = 0

    def counted(rows: int) -> None:
        nonlocal count
        count += rows

    async def work(conn: AsyncConnection) -> None:
        await emit_stream(
            export_stream.export(conn, query, policy.tz, args.format, counted),
            args.output,
            lambda: f"{args.format}, {count} 条",
            binary=args.format == "xlsx",
        )

    asyncio.run(with_db(settings, work))


def _list(args: argparse.Namespace, settings: Settings, policy: Policy) -> None:
    if args.format in ("csv", "xlsx") and not args.limit:
        return _export(args, settings, policy)
    query = _entry_query(args, policy)
    limit = args.limit or (TABLE_LIMIT if args.format == "table" else None)

    async def work(conn: AsyncConnection) -> tuple[list[dict[str, Any]], bool]:
        if limit is None:
            return [e async for e in queries.iterate_entries(conn, query)], False
        page = await queries.list_entries(conn, query, limit=limit)
        return page.entries, page.next_cursor is not None

    entries, more = asyncio.run(with_db(settings, work))
    tz = policy.tz
    if args.format == "csv":
        emit(exports.entries_csv(entries, tz), args.output, f"csv, {len(entries)} 条")
        return
    if args.format == "xlsx":
        emit(exports.entries_xlsx(entries, tz), args.output, f"xlsx, {len(entries)} 条")
        return
    if not entries:
        emit("没有符合条件的问责记录 / no entries match\n", args.output, "0 条")
        return
    rows = [
        [
            e["id"],
            _kind_cell(e),
            exports.status_zh(e["status"]),
            e["township"],
            truncate(e["incident_title"] or e["incident_id"] or "—", 40),
            e["occurred_at"].astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            exports.delay_minutes(e["delay_seconds"]),
        ]
        for e in entries
    ]
    text = render_table(["编号", "类型", "状态", "乡镇", "事件", "发生时间", "延误（分钟）"], rows)
    text += f"共 {len(entries)} 条 / {len(entries)} entries"
    if more:
        text += f"；仅显示前 {limit} 条，用 --limit 调整或 --format csv 导出全部 / more match"
    emit(text + "\n", args.output, f"{len(entries)} 条")


def _totals(args: argparse.Namespace, settings: Settings, policy: Policy) -> None:
    query = _entry_query(args, policy)

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        return await tallies.totals(conn, query)

    counted = asyncio.run(with_db(settings, work))

    def ordered(counts: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    by_township = [[town or "（无乡镇）", n] for town, n in ordered(counted["by_township"])]
    by_kind = [[exports.kind_zh(kind), n] for kind, n in ordered(counted["by_kind"])]
    print("按乡镇 / by township")
    print(render_table(["乡镇", "条数"], by_township))
    print("按类型 / by kind")
    print(render_table(["类型", "条数"], by_kind))
    print(f"合计 {counted['total']} 条 / total {counted['total']}")


async def _verified(settings: Settings, since: bool, record: bool) -> tuple[ChainReport, int | None]:
    """Verify on a reading connection (no write lock held while it walks), then record the checkpoint."""
    engine = create_engine(settings.database())
    try:
        async with reading(engine) as conn:
            report = await verify_chain(conn, since_checkpoint=since)
        if not (record and report.intact and report.verified_through is not None):
            return report, None
        async with engine.begin() as conn:
            return report, await record_checkpoint(conn, report, SystemClock().now())
    finally:
        await engine.dispose()


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    report, recorded = asyncio.run(_verified(settings, args.since_checkpoint, not args.no_checkpoint))
    if report.checkpoint is None:
        print("范围 / scope: 全链 / full")
    else:
        print(f"范围 / scope: 自第 {report.checkpoint} 号校验检查点起 / since checkpoint {report.checkpoint}")
    if report.intact:
        print(f"完整 / intact: {report.entries_checked} entries")
        if report.verified_through is not None:
            through = report.verified_through
            print(f"校验至 / verified through: 第 {through} 号记录 / entry {through}")
        print(f"末条哈希 / last hash: {report.last_hash}")
        if recorded is not None:
            print(f"已记录校验检查点 / checkpoint recorded: 第 {recorded} 号记录 / entry {recorded}")
        elif args.no_checkpoint:
            print("未记录校验检查点 / no checkpoint recorded (--no-checkpoint)")
        return 0
    problem = report.problem or ""
    print(f"断裂 / broken: 第 {report.broken_at} 号记录 / entry {report.broken_at}")
    print(f"问题 / problem: {problem_zh(problem)} / {problem}")
    print(f"应为 / expected: {report.expected}")
    print(f"实际 / found:    {report.found}")
    print(f"已校验 / checked: {report.entries_checked} entries")
    if report.checkpoint is not None:
        print("自校验检查点起的校验没有检查更早的记录；请再做一次全链校验 / run a full verification too")
    return 1
