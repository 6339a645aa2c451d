"""`alerting user ...` as an operator runs it: a real process on a SQLite file; the temporary password
is printed once, refusals are bilingual with exit status 2, and each act is in the operations log."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from sqlalchemy import select

from alerting.storage.engine import create_engine
from alerting.storage.schema import operations
from tests.e2e.test_cli import EXAMPLE, alerting, base_env


async def _log(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(operations).order_by(operations.c.id))
            return [(r.actor, r.action, r.target) for r in rows]
    finally:
        await engine.dispose()


def test_user_commands(tmp_path: Path) -> None:
    env = base_env(tmp_path, EXAMPLE)
    made = alerting(
        "user",
        "create",
        "cgz",
        "--role",
        "township",
        "--township",
        "城关镇",
        "--name",
        "城关镇信息员",
        "--by",
        "李管理",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    [temporary] = re.findall(r"temporary password \(shown once\): (\S+)", made.stdout)
    assert len(temporary) == 14 and temporary not in made.stderr

    refused = alerting("user", "create", "mlz", "--role", "township", "--by", "李管理", env=env)
    assert (
        refused.returncode == 2 and "乡镇用户须指定乡镇 / a township user needs a township" in refused.stderr
    )
    missing = alerting("user", "unlock", "nobody", "--by", "李管理", env=env)
    assert missing.returncode == 2 and "不存在 / no user nobody" in missing.stderr

    listed = alerting("user", "list", env=env)
    assert listed.returncode == 0 and "城关镇信息员" in listed.stdout and "待改临时密码" in listed.stdout
    reset = alerting("user", "reset-password", "cgz", "--by", "李管理", env=env)
    assert reset.returncode == 0 and temporary not in reset.stdout
    assert alerting("user", "unlock", "cgz", "--by", "李管理", env=env).returncode == 0
    assert alerting("user", "disable", "cgz", "--by", "李管理", env=env).returncode == 0
    assert "已停用" in alerting("user", "list", env=env).stdout

    assert asyncio.run(_log(env["ALERTING_DATABASE_URL"])) == [
        ("李管理", "user_created", "cgz"),
        ("李管理", "password_reset", "cgz"),
        ("李管理", "user_unlocked", "cgz"),
        ("李管理", "user_disabled", "cgz"),
    ]
