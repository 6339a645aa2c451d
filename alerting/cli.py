"""The `alerting` command: run the service, manage tokens, migrate the database, check a policy, and
read the accountability log and bulletins (`alerting audit ...`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting import audit, bulletins, exports, tokens
from alerting.bulletin_render import (
    bulletin_html,
    bulletin_xlsx,
    candidates_zh,
    compact,
    counts_zh,
    percent,
    title_of,
)
from alerting.clock import SystemClock
from alerting.domain import EntryKind, EntryStatus, Level, Role
from alerting.errors import AlertingError
from alerting.policy import Policy, load_policy
from alerting.runner import run_service, run_worker
from alerting.settings import Settings
from alerting.storage.engine import create_engine, upgrade
from alerting.tables import render_table, truncate

T = TypeVar("T")
TABLE_LIMIT = 100  # rows `audit list` shows in a terminal unless --limit says otherwise


class CommandError(AlertingError):
    """A command-line argument that cannot be used; the message says what to write instead."""


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it comes with uvicorn[standard]): a faster event loop for the service."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
        stream=sys.stderr,
    )
    # httpx logs full request URLs, and a chat-robot URL carries its key.
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def _create_token(settings: Settings, name: str, role: Role, township: str | None) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await tokens.create(conn, name=name, role=role, township=township, now=SystemClock().now())
    finally:
        await engine.dispose()


async def _with_db(
    settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]], write: bool = False
) -> T:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() if write else engine.connect() as conn:
            return await work(conn)
    finally:
        await engine.dispose()


def _token_command(settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "create":
        role = Role(args.role)
        name = args.name or (f"{role.value}/{args.township}" if args.township else role.value)
        print(asyncio.run(_create_token(settings, name, role, args.township)))
    elif args.action == "list":
        rows = asyncio.run(_with_db(settings, tokens.list_all))
        headers = ["编号", "持有人", "角色", "乡镇", "创建时间", "吊销时间"]
        print(render_table(headers, [list(r.values()) for r in rows]))
    else:
        now = SystemClock().now()
        if not asyncio.run(_with_db(settings, lambda conn: tokens.revoke(conn, args.id, now), write=True)):
            raise CommandError(f"no active token with id {args.id}")
        print(f"token {args.id} revoked")


def _moment(text: str | None, policy: Policy) -> datetime | None:
    """ISO 8601; a time without an offset is local time (the policy's time zone)."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"{text!r} 不是有效时间 / not an ISO 8601 time; write e.g. 2026-01-01 or 2026-01-01T08:00+08:00"
        ) from None
    return at.replace(tzinfo=policy.tz) if at.tzinfo is None else at


def _entry_query(args: argparse.Namespace, policy: Policy) -> audit.EntryQuery:
    return audit.EntryQuery(
        township=args.township,
        kind=args.kind,
        status=EntryStatus(args.status) if args.status else None,
        level=args.level,
        since=_moment(args.since, policy),
        until=_moment(args.until, policy),
        auto_confirm=frozenset(policy.scoring.auto_confirm),
    )


def _emit(data: str | bytes, output: Path | None, what: str) -> None:
    """Write to --output, or to standard output (binary data only when it is not a terminal)."""
    if output is not None:
        try:
            output.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        except OSError as exc:
            raise CommandError(f"无法写入 / cannot write {output}: {exc.strerror}") from None
        print(f"已写入 / written: {output}（{what}）", file=sys.stderr)
    elif isinstance(data, str):
        sys.stdout.write(data)
        sys.stdout.flush()
    elif what.startswith("xlsx") and sys.stdout.isatty():
        raise CommandError("XLSX 是二进制文件，请用 --output FILE 指定保存位置 / use --output FILE")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def _kind_cell(entry: dict[str, Any]) -> str:
    kind = exports.kind_zh(entry["kind"])
    finding = entry.get("finding")
    return f"{kind}→{exports.finding_zh(finding)}" if finding and finding != entry["kind"] else kind


def _audit_list(args: argparse.Namespace, settings: Settings, policy: Policy) -> None:
    query = _entry_query(args, policy)
    limit = args.limit or (TABLE_LIMIT if args.format == "table" else None)

    async def work(conn: AsyncConnection) -> tuple[list[dict[str, Any]], bool]:
        if limit is None:
            return [e async for e in audit.iterate_entries(conn, query)], False
        page = await audit.list_entries(conn, query, limit=limit)
        return page.entries, page.next_cursor is not None

    entries, more = asyncio.run(_with_db(settings, work))
    tz = policy.tz
    if args.format == "csv":
        _emit(exports.entries_csv(entries, tz), args.output, f"csv, {len(entries)} 条")
        return
    if args.format == "xlsx":
        _emit(exports.entries_xlsx(entries, tz), args.output, f"xlsx, {len(entries)} 条")
        return
    if not entries:
        _emit("没有符合条件的问责记录 / no entries match\n", args.output, "0 条")
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
    _emit(text + "\n", args.output, f"{len(entries)} 条")


def _audit_totals(args: argparse.Namespace, settings: Settings, policy: Policy) -> None:
    query = _entry_query(args, policy)

    async def work(conn: AsyncConnection) -> dict[str, Any]:
        return await audit.totals(conn, query)

    totals = asyncio.run(_with_db(settings, work))

    def ordered(counts: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    by_township = [[town or "（无乡镇）", n] for town, n in ordered(totals["by_township"])]
    by_kind = [[exports.kind_zh(kind), n] for kind, n in ordered(totals["by_kind"])]
    print("按乡镇 / by township")
    print(render_table(["乡镇", "条数"], by_township))
    print("按类型 / by kind")
    print(render_table(["类型", "条数"], by_kind))
    print(f"合计 {totals['total']} 条 / total {totals['total']}")


PROBLEM_ZH = {"content changed": "内容被改动", "link broken": "链接断开"}


def _audit_verify(settings: Settings) -> int:
    report = asyncio.run(_with_db(settings, audit.verify_chain))
    if report.intact:
        print(f"完整 / intact: {report.entries_checked} entries")
        print(f"末条哈希 / last hash: {report.last_hash}")
        return 0
    problem = report.problem or ""
    print(f"断裂 / broken: 第 {report.broken_at} 号记录 / entry {report.broken_at}")
    print(f"问题 / problem: {PROBLEM_ZH.get(problem, problem)} / {problem}")
    print(f"应为 / expected: {report.expected}")
    print(f"实际 / found:    {report.found}")
    print(f"已校验 / checked: {report.entries_checked} entries")
    return 1


def _bulletin_table(content: dict[str, Any], published_at: datetime | None, tz: Any) -> str:
    lines = [title_of(content)]
    lines.append(
        f"发布时间 {published_at.astimezone(tz):%Y-%m-%d %H:%M}"
        if published_at
        else "草稿（未发布，数据可能变化）"
    )
    ranking = [
        [
            r["rank"],
            r["township"],
            r["reports"],
            r["urgent_reports"],
            percent(r["on_time_rate"]),
            r["adopted"],
            compact(r["adoption_points"]),
            compact(r["deductions"]),
            compact(r["score"]),
            counts_zh(r["failures"], exports.finding_zh) or None,
            candidates_zh(r["candidates"]) or None,
        ]
        for r in content["townships"]
    ]
    headers = ["排名", "乡镇", "报送条数", "紧急信息", "按时率", "采用条数", "采用得分", "扣分", "得分"]
    lines.append(render_table([*headers, "问题（已认定）", "待审核"], ranking))
    lines.append("点名批评")
    criticisms = [
        [
            c["township"],
            exports.finding_zh(c["finding"]),
            truncate(c["incident_title"] or c["incident_id"] or "—", 40),
            datetime.fromisoformat(c["occurred_at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            c["delay_minutes"],
        ]
        for c in content["criticisms"]
    ]
    if criticisms:
        lines.append(render_table(["乡镇", "认定", "事件", "发生时间", "延误（分钟）"], criticisms))
    else:
        lines.append("本期无点名批评事项。\n")
    return "\n".join(lines)


def _audit_bulletin(args: argparse.Namespace, settings: Settings, policy: Policy) -> None:
    try:
        kind, period = bulletins.parse_period(args.period, policy.tz)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    now = SystemClock().now()

    async def work(conn: AsyncConnection) -> tuple[dict[str, Any], dict[str, Any] | None]:
        stored = (
            await bulletins.publish(conn, policy, kind, period, "cli", now)
            if args.publish
            else await bulletins.published(conn, kind, period.key)
        )
        if stored is not None:
            return stored["content"], stored
        return await bulletins.compute(conn, policy, kind, period, now), None

    content, stored = asyncio.run(_with_db(settings, work, write=args.publish))
    published_at: datetime | None = stored["published_at"] if stored else None
    if args.publish and stored is not None:
        print(f"已发布 / published: {period.key}（{stored['content_hash']}）", file=sys.stderr)
    tz = policy.tz
    if args.format == "json":
        document = {
            "published": stored is not None,
            "published_at": published_at.isoformat() if published_at else None,
            "content_hash": stored["content_hash"] if stored else None,
            **content,
        }
        _emit(json.dumps(document, ensure_ascii=False, indent=2) + "\n", args.output, "json")
    elif args.format == "html":
        _emit(bulletin_html(content, published_at=published_at, tz=tz), args.output, "html")
    elif args.format == "xlsx":
        _emit(bulletin_xlsx(content, tz), args.output, "xlsx")
    else:
        _emit(_bulletin_table(content, published_at, tz), args.output, "table")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _audit_parser(sub: Any) -> None:
    audit_cmd = sub.add_parser("audit", help="问责记录与通报 / the accountability log and bulletins")
    actions = audit_cmd.add_subparsers(dest="action", required=True)
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--township", help="乡镇 / township")
    filters.add_argument("--kind", choices=[k.value for k in EntryKind if k is not EntryKind.REVIEW])
    filters.add_argument("--status", choices=[s.value for s in EntryStatus])
    filters.add_argument("--level", choices=[v.value for v in Level], help="事件等级 / incident level")
    filters.add_argument(
        "--since", help="发生于此时或之后 / occurred at or after (ISO 8601; local if no offset)"
    )
    filters.add_argument("--until", help="发生于此时之前 / occurred before (ISO 8601; local if no offset)")
    listing = actions.add_parser("list", parents=[filters], help="列出问责记录 / list entries")
    listing.add_argument("--limit", type=_positive, help=f"at most N entries (table default {TABLE_LIMIT})")
    listing.add_argument("--format", choices=["table", "csv", "xlsx"], default="table")
    listing.add_argument("--output", type=Path, help="write to FILE instead of standard output")
    actions.add_parser("totals", parents=[filters], help="按乡镇、类型汇总 / totals by township and kind")
    actions.add_parser("verify", help="校验哈希链 / verify the hash chain")
    bulletin = actions.add_parser(
        "bulletin", help="季度通报、年度排名 / a quarter's bulletin or a year's ranking"
    )
    bulletin.add_argument("period", help="2026-Q1 (quarter) or 2026 (year)")
    bulletin.add_argument("--format", choices=["table", "json", "html", "xlsx"], default="table")
    bulletin.add_argument("--output", type=Path, help="write to FILE instead of standard output")
    bulletin.add_argument(
        "--publish", action="store_true", help="发布并冻结 / publish (freeze) an ended period"
    )


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the auditor reads stdout and stderr
    upgrade(settings.database_url)
    if args.action == "verify":
        return _audit_verify(settings)
    policy = load_policy(settings.policy)
    if args.action == "list":
        _audit_list(args, settings, policy)
    elif args.action == "totals":
        _audit_totals(args, settings, policy)
    elif args.action == "bulletin":
        _audit_bulletin(args, settings, policy)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alerting", description="县级紧急信息报送与预警服务")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,token,db,policy,audit}")
    sub.add_parser("run", help="run the service (API, consumer, deadlines, delivery)")
    sub.add_parser("_worker")  # started by `run` (alerting/worker.py), not by hand
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--township", help="the township a township token reports for")
    create.add_argument("--name", help="who holds the token (default: role/township)")
    token.add_parser("list", help="list tokens (holders and roles, never secrets)")
    revoke = token.add_parser("revoke", help="revoke a token by its id (see token list)")
    revoke.add_argument("id", type=int)
    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")
    policy = sub.add_parser("policy", help="policy file").add_subparsers(dest="action", required=True)
    policy.add_parser("check", help="validate the policy named by ALERTING_POLICY")
    _audit_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging()
    try:
        settings = Settings()
        if args.command == "run":
            policy = load_policy(settings.policy)
            with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
                return runner.run(run_service(settings, policy))
        elif args.command == "_worker":
            policy = load_policy(settings.policy)
            with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
                return runner.run(run_worker(settings, policy))
        elif args.command == "token":
            upgrade(settings.database_url)
            _token_command(settings, args)
        elif args.command == "db":
            upgrade(settings.database_url)
        elif args.command == "policy":
            load_policy(settings.policy)
            print(f"{settings.policy}: ok")
        elif args.command == "audit":
            return _audit(args, settings)
    except (AlertingError, ValidationError) as exc:
        print(f"alerting: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
