"""The `alerting` command: run the service, manage tokens, migrate the database, check a policy."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

import uvicorn
from pydantic import ValidationError

from alerting import tokens
from alerting.clock import SystemClock
from alerting.domain import Role
from alerting.errors import AlertingError
from alerting.policy import Policy, load_policy
from alerting.service import Service
from alerting.settings import Settings
from alerting.storage.engine import create_engine, upgrade


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
        stream=sys.stderr,
    )
    # httpx logs full request URLs, and a chat-robot URL carries its key.
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def _run(settings: Settings, policy: Policy) -> None:
    service = Service(settings, policy)
    await service.start()
    config = uvicorn.Config(
        service.app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    base = f"http://{settings.http_host}:{settings.http_port}"
    print(f"alerting: API on {base}/api/v1  docs {base}/docs  metrics {base}/metrics", file=sys.stderr)
    # uvicorn re-raises the signal it caught once it has shut down; with the default handler that
    # would kill the process before the consumer commits and leaves its group.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        await server.serve()
    finally:
        await service.stop()
        print("alerting: stopped", file=sys.stderr)


async def _create_token(settings: Settings, name: str, role: Role, township: str | None) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await tokens.create(conn, name=name, role=role, township=township, now=SystemClock().now())
    finally:
        await engine.dispose()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alerting", description="县级紧急信息报送与预警服务")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the service (API, consumer, deadlines, delivery)")
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--township", help="the township a township token reports for")
    create.add_argument("--name", help="who holds the token (default: role/township)")
    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")
    policy = sub.add_parser("policy", help="policy file").add_subparsers(dest="action", required=True)
    policy.add_parser("check", help="validate the policy named by ALERTING_POLICY")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging()
    try:
        settings = Settings()
        if args.command == "run":
            asyncio.run(_run(settings, load_policy(settings.policy)))
        elif args.command == "token":
            upgrade(settings.database_url)
            role = Role(args.role)
            name = args.name or (f"{role.value}/{args.township}" if args.township else role.value)
            print(asyncio.run(_create_token(settings, name, role, args.township)))
        elif args.command == "db":
            upgrade(settings.database_url)
        elif args.command == "policy":
            load_policy(settings.policy)
            print(f"{settings.policy}: ok")
    except (AlertingError, ValidationError) as exc:
        print(f"alerting: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
