"""The `alerting` command: `run` (the service) and `_worker` (its child) start here, the composition
root; every other family of commands comes from alerting/cli/."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from pydantic import ValidationError

from alerting.app.runner import run_service, run_worker
from alerting.cli import (
    admin,
    assignments,
    audit,
    channels,
    inspections,
    items,
    notices,
    officers,
    producer_keys,
    roster,
    tokens,
    users,
)
from alerting.errors import AlertingError
from alerting.policy.loader import load_policy
from alerting.settings import Settings

Command = Callable[[argparse.Namespace, Settings], int]


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (it comes with uvicorn[standard]): a faster event loop for the service."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _configure_logging(command: str, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
        stream=sys.stderr,
    )
    # httpx logs full request URLs, and a chat-robot URL carries its key.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if command not in ("run", "_worker") and not verbose:
        # A person at a terminal reads the answer, not each migration checked on the way (-v shows them).
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    policy = load_policy(settings.policy)
    serve = run_service if args.command == "run" else run_worker
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        return runner.run(serve(settings, policy))


def _version() -> str:
    try:
        return version("county-alerting")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(prog="alerting", description="县级紧急信息报送与预警服务")
    parser.add_argument("-v", "--verbose", action="store_true", help="also log each migration step")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    sub.add_parser("run", help="run the service (API, consumer, deadlines, delivery)")
    sub.add_parser("_worker")  # started by `run` (alerting/app/worker.py), not by hand
    tokens.register(sub)
    producer_keys.register(sub)
    admin.register_migrate(sub)
    admin.register_db(sub)
    admin.register_policy(sub)
    audit.register(sub)
    items.register(sub)
    assignments.register(sub)
    officers.register(sub)
    notices.register(sub)
    inspections.register(sub)
    roster.register(sub)
    users.register(sub)
    channels.register(sub)
    commands: dict[str, Command] = {
        "run": _run,
        "_worker": _run,
        tokens.NAME: tokens.run,
        producer_keys.NAME: producer_keys.run,
        "migrate": admin.run_migrate,
        "db": admin.run_db,
        "policy": admin.run_policy,
        audit.NAME: audit.run,
        items.NAME: items.run,
        assignments.NAME: assignments.run,
        officers.NAME: officers.run,
        notices.NAME: notices.run,
        inspections.NAME: inspections.run,
        roster.NAME: roster.run,
        users.NAME: users.run,
        channels.NAME: channels.run,
    }
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.command, args.verbose)
    try:
        return commands[args.command](args, Settings())
    except (AlertingError, ValidationError) as exc:
        print(f"alerting: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
