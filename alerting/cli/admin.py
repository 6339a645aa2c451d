"""`alerting migrate` (also `alerting db upgrade`) and `alerting policy check`: set-up commands that
start nothing."""

from __future__ import annotations

import argparse
import asyncio

from alerting.cli.common import Subcommands
from alerting.errors import SettingsError
from alerting.policy.loader import load_policy
from alerting.settings import Settings
from alerting.storage.connection import Database
from alerting.storage.engine import create_engine
from alerting.storage.grants import Granted, grant_service_role
from alerting.storage.revision import current_revision, explained, migrate

MIGRATE_HELP = (
    "以结构所有者身份迁移数据库，并为服务角色授权 / apply the migrations as the schema owner "
    "(ALERTING_MIGRATION_DATABASE_URL), then grant ALERTING_DATABASE_SERVICE_ROLE what the service needs"
)


def register_migrate(commands: Subcommands) -> None:
    commands.add_parser("migrate", help=MIGRATE_HELP, description=MIGRATE_HELP)


def register_db(commands: Subcommands) -> None:
    db = commands.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations (the same as `alerting migrate`)")


def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    owner = settings.migration_database()
    role = settings.database_service_role
    if role is not None and owner.is_sqlite:
        raise SettingsError(
            "ALERTING_DATABASE_SERVICE_ROLE 只用于 PostgreSQL / applies to PostgreSQL only, and the "
            "database is a SQLite file"
        )
    migrate(owner)
    revision, granted = asyncio.run(_after_migrating(owner, role))
    print(f"数据库结构已是最新 / the schema is at revision {revision} ({owner.shown()})")
    if granted is not None:
        print(granted.summary())
    elif not owner.is_sqlite:
        print(
            "未授权：ALERTING_DATABASE_SERVICE_ROLE 未设置 / no grants made: ALERTING_DATABASE_SERVICE_ROLE "
            "is unset, so the service connects as the owner and could change the schema"
        )
    return 0


async def _after_migrating(owner: Database, role: str | None) -> tuple[str | None, Granted | None]:
    engine = create_engine(owner)
    try:
        with explained(owner):
            revision = await current_revision(engine)
            if role is None:
                return revision, None
            async with engine.begin() as conn:  # one transaction: the service never sees half the grants
                return revision, await grant_service_role(conn, role)
    finally:
        await engine.dispose()


def run_db(args: argparse.Namespace, settings: Settings) -> int:
    return run_migrate(args, settings)


def register_policy(commands: Subcommands) -> None:
    policy = commands.add_parser("policy", help="policy file").add_subparsers(dest="action", required=True)
    policy.add_parser("check", help="validate the policy named by ALERTING_POLICY")


def run_policy(args: argparse.Namespace, settings: Settings) -> int:
    load_policy(settings.policy)
    print(f"{settings.policy}: ok")
    return 0
