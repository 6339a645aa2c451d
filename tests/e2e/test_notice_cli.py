"""`alerting notice ...` and `alerting inspection ...` as the information section runs them: real
processes on a SQLite file; a township's read is written through the product's own function."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from alerting.county import notices
from alerting.storage.engine import create_engine
from tests.e2e.test_cli import EXAMPLE, alerting, base_env

READ_AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 local


async def _read(database_url: str, notice_id: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await notices.mark_read(conn, notice_id, "城关镇", "城关镇信息员", READ_AT)
    finally:
        await engine.dispose()


def test_a_notice_is_sent_listed_and_shown_with_its_reads(tmp_path: Path) -> None:
    env = base_env(tmp_path, EXAMPLE)
    body = tmp_path / "要点.txt"
    body.write_text("一、重点报送春耕进展。\n二、……\n", encoding="utf-8")
    sent = alerting(
        "notice", "send", "--kind", "reporting_points", "--title", "二季度报送要点", "--body-file", str(body),
        "--township", "城关镇", "--township", "青山乡", "--format", "json", env=env,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    notice = json.loads(sent.stdout)
    assert (notice["kind_zh"], notice["unread"], notice["body"]) == (
        "报送要点",
        ["城关镇", "青山乡"],
        "一、重点报送春耕进展。\n二、……",
    )
    asyncio.run(_read(env["ALERTING_DATABASE_URL"], notice["id"]))

    shown = alerting("notice", "show", notice["id"], env=env)
    assert shown.returncode == 0, shown.stderr
    assert "已读 1，未读 1：青山乡" in shown.stdout
    assert "2026-03-02 10:00  城关镇信息员" in shown.stdout
    listed = alerting("notice", "list", env=env)
    assert notice["id"] in listed.stdout and "二季度报送要点" in listed.stdout
    for_town = alerting("notice", "list", "--township", "梅林镇", env=env)
    assert for_town.returncode == 0 and "没有通报" in for_town.stdout

    unknown = alerting(
        "notice", "send", "--kind", "work_update", "--title", "t", "--body", "b",
        "--township", "不存在镇", env=env,
    )  # fmt: skip
    assert unknown.returncode == 2 and "可选：城关镇、梅林镇、青山乡" in unknown.stderr


def test_inspections_are_recorded_listed_and_shown_in_the_bulletin(tmp_path: Path) -> None:
    env = base_env(tmp_path, EXAMPLE)
    first = alerting(
        "inspection", "record", "--township", "城关镇", "--on", "2026-01-10", "--inspector", "李四",
        "--met", "office,funding,equipment,leader", "--unmet", "有相关刊物,staff", env=env,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "4/6" in first.stdout and "有相关刊物、有专兼职信息人员" in first.stdout
    second = alerting(
        "inspection", "record", "--township", "城关镇", "--on", "2026-03-20", "--inspector", "李四",
        "--inspector", "赵六", "--met", "office,funding,equipment,leader,staff", "--unmet", "publications",
        "--note", "复查", "--format", "json", env=env,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["unmet_zh"] == ["有相关刊物"]
    missing = alerting(
        "inspection", "record", "--township", "城关镇", "--on", "2026-03-21", "--inspector", "李四",
        "--met", "office,funding,equipment,leader,staff", env=env,
    )  # fmt: skip
    assert missing.returncode == 2 and "未写明：有相关刊物" in missing.stderr

    history = json.loads(alerting("inspection", "list", "--format", "json", env=env).stdout)
    assert [(i["inspected_on"], i["met"]) for i in history] == [("2026-03-20", 5), ("2026-01-10", 4)]
    latest = alerting("inspection", "list", "--latest", "--on", "2026-02-01", env=env)
    assert "2026-01-10" in latest.stdout and "2026-03-20" not in latest.stdout

    bulletin = alerting("audit", "bulletin", "2026-Q1", env=env)
    assert bulletin.returncode == 0, bulletin.stderr
    assert "六有（最近检查）" in bulletin.stdout and "5/6，缺：有相关刊物（2026-03-20）" in bulletin.stdout
