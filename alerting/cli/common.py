"""What every command family shares: a database connection for one command, output to a file or the
terminal, and argument types."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeAlias, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.errors import CommandError
from alerting.policy.model import Policy
from alerting.settings import Settings
from alerting.storage.engine import create_engine, reading
from alerting.storage.revision import prepare_schema_blocking

T = TypeVar("T")
# What `add_subparsers` returns: each family adds its command to it.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def prepare_database(settings: Settings) -> None:
    """Before a command uses the database: bring the schema up to date, or only check that it is
    (ALERTING_MIGRATE_ON_START=false, where the schema owner runs `alerting migrate`)."""
    prepare_schema_blocking(settings.database(), settings.migrate_on_start)


async def with_db(
    settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]], write: bool = False
) -> T:
    engine = create_engine(settings.database())
    try:
        async with engine.begin() if write else reading(engine) as conn:
            return await work(conn)
    finally:
        await engine.dispose()


def moment(text: str | None, policy: Policy) -> datetime | None:
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


def day(text: str | None) -> date | None:
    """An ISO date (2026-03-31)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} 不是有效日期 / not an ISO date; write e.g. 2026-03-31") from None


def add_actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        metavar="NAME",
        default=argparse.SUPPRESS,  # absent: keep what an enclosing command's --by said
        help="经办人姓名，记入记录（默认：操作系统用户名）/ who acts, as recorded (default: the OS user)",
    )


def actor(args: argparse.Namespace) -> str:
    """Who a command acts as: --by, or the operating-system user running it."""
    name = (getattr(args, "by", None) or "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise CommandError("无法确定操作系统用户，请用 --by 写明经办人 / give --by NAME") from None


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["table", "json"], default="table", help="输出格式 / output")


def emit(data: str | bytes, output: Path | None, what: str) -> None:
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


async def emit_stream(
    chunks: AsyncIterator[bytes], output: Path | None, what: Callable[[], str], binary: bool
) -> None:
    """emit() for data made a piece at a time: to --output through a temporary file beside it (a
    failed export leaves no half file), or to standard output as it comes."""
    if output is None:
        if binary and sys.stdout.isatty():
            raise CommandError("XLSX 是二进制文件，请用 --output FILE 指定保存位置 / use --output FILE")
        async for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    partial = output.with_name(output.name + ".part")
    try:
        with partial.open("wb") as target:
            async for chunk in chunks:
                target.write(chunk)
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CommandError(f"无法写入 / cannot write {output}: {exc.strerror}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    print(f"已写入 / written: {output}（{what()}）", file=sys.stderr)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def local_minute(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else None


def as_json(data: Any, tz: ZoneInfo | None = None) -> str:
    """--format json: ISO 8601 times (in local time with its offset, given `tz`; else as the API
    gives them) and dates, Chinese kept as it is."""

    def encode(value: object) -> str:
        if isinstance(value, datetime):
            return (value.astimezone(tz) if tz else value).isoformat()
        if isinstance(value, date):
            return value.isoformat()
        raise TypeError(f"cannot encode {type(value).__name__}")

    return json.dumps(data, ensure_ascii=False, indent=2, default=encode) + "\n"
