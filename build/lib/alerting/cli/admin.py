"""`alerting db upgrade` and `alerting policy check`: set-up commands that start nothing."""

from __future__ import annotations

import argparse

from alerting.cli.common import Subcommands
from alerting.policy.loader import load_policy
from alerting.settings import Settings
from alerting.storage.engine import upgrade


def register_db(commands: Subcommands) -> None:
    db = commands.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")


def run_db(args: argparse.Namespace, settings: Settings) -> int:
    upgrade(settings.database_url)
    return 0


def register_policy(commands: Subcommands) -> None:
    policy = commands.add_parser("policy", help="policy file").add_subparsers(dest="action", required=True)
    policy.add_parser("check", help="validate the policy named by ALERTING_POLICY")


def run_policy(args: argparse.Namespace, settings: Settings) -> int:
    load_policy(settings.policy)
    print(f"{settings.policy}: ok")
    return 0
