"""`alerting item|assignment|officer ...` as the information section runs them: real processes, a
SQLite file written by the product (routine items through the consumer's own intake)."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alerting.domain import Reporter, RoutineItem
from alerting.policy.loader import load_policy
from alerting.storage.engine import create_engine
from consumers.items import store_item
from tests.e2e.test_cli import EXAMPLE, alerting, base_env

TZ = ZoneInfo("Asia/Shanghai")
T1 = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # 10:00 local
T2 = datetime(2026, 3, 3, 6, 30, tzinfo=UTC)  # 14:30 local
T3 = datetime(2026, 3, 4, 1, 15, tzinfo=UTC)  # 09:15 local, the next day


def item(submission: str, township: str, title: str, at: datetime, **changes: Any) -> RoutineItem:
    made = RoutineItem(
        submission_id=submission,
        item_id=submission,
        township=township,
        category="社情民意",
        title=title,
        text="近期多名群众反映……",
        submitted_at=at,
        reporter=Reporter("信息员王五", "0791-80000009"),
    )
    return replace(made, **changes)


async def _store(tmp_path: Path, env: dict[str, str], *versions: RoutineItem) -> None:
    """Through the consumer's intake, as if each version came from the topic."""
    policy = load_policy(tmp_path / "policy.toml", env)
    engine = create_engine(env["ALERTING_DATABASE_URL"])
    try:
        for version in versions:
            async with engine.begin() as conn:
                await store_item(conn, version, policy, version.submitted_at)
    finally:
        await engine.dispose()


def prepared(tmp_path: Path) -> dict[str, str]:
    env = {**base_env(tmp_path, EXAMPLE), "LOGNAME": "科员甲"}  # the OS user, when --by is absent
    upgraded = alerting("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    return env


def query(tmp_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    db = sqlite3.connect(tmp_path / "a.db")
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def local(stored: object) -> str:
    """A time as the tables show it (SQLite gives back the stored UTC text)."""
    return datetime.fromisoformat(str(stored)).replace(tzinfo=UTC).astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def table_rows(text: str) -> list[list[str]]:
    """A table's cells (apart by two blanks or more): the header, then each row, without the rule."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [re.split(r" {2,}", line) for line in lines if not set(line) <= {"-", " "}]


def test_items_are_listed_decided_on_the_current_version_only_and_forwarded(tmp_path: Path) -> None:
    env = prepared(tmp_path)
    asyncio.run(
        _store(
            tmp_path,
            env,
            item("cg-1", "城关镇", "群众反映农村客运班次减少", T1),
            item("cg-1b", "城关镇", "农村客运班次减少（修改稿）", T2, item_id="cg-1"),
            item("ml-1", "梅林镇", "梅林镇春耕备耕有序推进", T3, category="工作动态"),
        )
    )

    listed = alerting("item", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert table_rows(listed.stdout) == [
        ["编号", "乡镇", "类别", "标题", "版本", "状态", "采用级别", "报送时间", "审核人"],
        ["ml-1", "梅林镇", "工作动态", "梅林镇春耕备耕有序推进", "1", "已报送", "—", "2026-03-04 09:15", "—"],
        [
            "cg-1",
            "城关镇",
            "社情民意",
            "农村客运班次减少（修改稿）",
            "2",
            "已报送",
            "—",
            "2026-03-03 10:00",
            "—",
        ],
        ["共 2 条 / 2 items"],
    ]
    only = alerting("item", "list", "--township", "梅林镇", "--format", "json", env=env)
    assert only.returncode == 0, only.stderr
    assert [(i["id"], i["status"], i["version"]) for i in json.loads(only.stdout)] == [
        ("ml-1", "submitted", 1)
    ]

    # The reviewer read version 1; the township has since sent version 2: refused as the API's 409.
    stale = alerting("item", "decide", "cg-1", "--version", "1", "adopt", "--level", "city", env=env)
    assert stale.returncode == 2
    assert stale.stderr.strip() == (
        "alerting: 第 1 版已不是最新：城关镇 于 2026-03-03 14:30 报送了第 2 版 / "
        "version 1 is stale: version 2 is current"
    )

    # A return needs a reason: without one argparse refuses, and a blank one the county's rule refuses.
    no_reason = alerting("item", "decide", "ml-1", "--version", "1", "return", env=env)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    blank = alerting("item", "decide", "ml-1", "--version", "1", "return", "--reason", "  ", env=env)
    assert blank.returncode == 2
    assert blank.stderr.strip() == "alerting: 退回须写明理由 / a return needs a reason"
    not_adopted = alerting("item", "forward", "ml-1", "--to", "市委办", env=env)
    assert not_adopted.returncode == 2 and "only an adopted item is forwarded upward" in not_adopted.stderr
    assert query(tmp_path, "SELECT status, decided_by FROM items WHERE id = 'ml-1'") == [("submitted", None)]

    adopted = alerting(
        "item", "decide", "cg-1", "--version", "2", "--by", "信息科李四", "adopt", "--level", "city",
        "--publication", "《XX信息》", "--issue", "2026年第12期", "--published-on", "2026-03-05",
        env=env,
    )  # fmt: skip
    assert adopted.returncode == 0, adopted.stderr
    assert adopted.stdout == (
        "已采用 / adopted: cg-1 第 2 版 / version 2，市级（《XX信息》2026年第12期），经办人 / by 信息科李四\n"
    )
    assert query(
        tmp_path,
        "SELECT status, version, adoption_level, publication, publication_issue, publication_date, "
        "decided_by FROM items WHERE id = 'cg-1'",
    ) == [("adopted", 2, "city", "《XX信息》", "2026年第12期", "2026-03-05", "信息科李四")]
    (decided_at,) = query(tmp_path, "SELECT decided_at FROM items WHERE id = 'cg-1'")[0]

    # Once decided, a second decision is refused naming who decided what and when.
    again = alerting("item", "decide", "cg-1", "--version", "2", "file", env=env)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"alerting: 第 2 版已由 信息科李四 于 {local(decided_at)} 采用 / version 2 was already adopted by "
        f"信息科李四 at {datetime.fromisoformat(str(decided_at)).replace(tzinfo=UTC).isoformat()}"
    )

    # Without --by the OS user acts; the return's reason is kept.
    returned = alerting(
        "item", "decide", "ml-1", "--version", "1", "return", "--reason", "请补充数据", env=env
    )
    assert returned.returncode == 0, returned.stderr
    assert returned.stdout == "已退回 / returned: ml-1 第 1 版 / version 1，经办人 / by 科员甲\n"
    assert query(tmp_path, "SELECT status, reason, decided_by FROM items WHERE id = 'ml-1'") == [
        ("returned", "请补充数据", "科员甲")
    ]

    forwarded = alerting("item", "forward", "cg-1", "--to", "市委办", "--by", "值班员王五", env=env)
    assert forwarded.returncode == 0, forwarded.stderr
    assert forwarded.stdout == "已上报 / forwarded: cg-1 → 市委办，经办人 / by 值班员王五\n"
    events = query(tmp_path, "SELECT kind, version, actor, details FROM item_events WHERE item_id = 'cg-1'")
    assert [(kind, version, actor) for kind, version, actor, _ in events] == [
        ("submitted", 1, "城关镇"),
        ("submitted", 2, "城关镇"),
        ("adopted", 2, "信息科李四"),
        ("forwarded", 2, "值班员王五"),
    ]
    assert json.loads(str(events[3][3])) == {"to": "市委办"}

    adopted_only = alerting("item", "list", "--status", "adopted", "--format", "json", env=env)
    assert adopted_only.returncode == 0, adopted_only.stderr
    (found,) = json.loads(adopted_only.stdout)
    assert found["id"] == "cg-1" and found["adoption_level"] == "city" and found["decided_by"] == "信息科李四"

    shown = alerting("item", "show", "cg-1", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "状态 / status: 已采用（第 2 版）" in shown.stdout
    assert "采用 / adopted: 市级（《XX信息》2026年第12期）" in shown.stdout
    timeline = table_rows(shown.stdout.split("经过 / timeline")[1])
    assert timeline[0] == ["时间", "经办人", "事项"]
    assert [row[1:] for row in timeline[1:]] == [
        ["城关镇", "城关镇报送第 1 版"],
        ["城关镇", "城关镇报送第 2 版"],
        ["信息科李四", "信息科李四采用第 2 版（市级采用，刊于《XX信息》2026年第12期）"],
        ["值班员王五", "值班员王五上报第 2 版，报送市委办"],
    ]
    missing = alerting("item", "show", "nope", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "alerting: 未找到日常信息 nope / no routine item nope"


def test_an_assignment_created_at_the_terminal_is_listed_with_its_townships_and_met_by_an_item(
    tmp_path: Path,
) -> None:
    env = prepared(tmp_path)
    created = alerting(
        "assignment", "create", "--title", "春耕备耕情况", "--due", "2099-06-30",
        "--township", "城关镇", "--township", "梅林镇", "--note", "请报送进展", "--by", "信息科李四",
        env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert lines[0] == "已约稿 / assignment given" and lines[1].startswith("编号 / id: asg-")
    first = lines[1].removeprefix("编号 / id: ")
    assert lines[2:4] == ["题目 / title: 春耕备耕情况", "截止时间 / due: 2099-06-30 24:00"]
    assert table_rows("\n".join(lines[6:])) == [
        ["乡镇", "完成情况", "完成时间", "报送编号"],
        ["城关镇", "待报送", "—", "—"],
        ["梅林镇", "待报送", "—", "—"],
    ]
    everyone = alerting(
        "assignment", "create", "--title", "防汛准备", "--due-at", "2099-05-01T12:00", env=env
    )
    assert everyone.returncode == 0, everyone.stderr
    second = everyone.stdout.splitlines()[1].removeprefix("编号 / id: ")

    stored = query(
        tmp_path, "SELECT id, title, note, due_at, townships, created_by FROM assignments ORDER BY due_at"
    )
    assert [(*row[:4], json.loads(str(row[4])), row[5]) for row in stored] == [
        (second, "防汛准备", "", "2099-05-01 04:00:00.000000", ["城关镇", "梅林镇", "青山乡"], "科员甲"),
        (
            first,
            "春耕备耕情况",
            "请报送进展",
            "2099-06-30 16:00:00.000000",
            ["城关镇", "梅林镇"],
            "信息科李四",
        ),
    ]
    armed = query(
        tmp_path,
        "SELECT township, state FROM deadlines WHERE kind = 'assignment' AND period = ? ORDER BY township",
        f"assignment:{first}",
    )
    assert armed == [("城关镇", "pending"), ("梅林镇", "pending")]

    asyncio.run(_store(tmp_path, env, item("cg-a1", "城关镇", "城关镇春耕备耕", T1, assignment_id=first)))
    listed = alerting("assignment", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert table_rows(listed.stdout) == [
        ["编号", "题目", "截止时间", "乡镇（完成情况）", "布置人"],
        [first, "春耕备耕情况", "2099-06-30 24:00", "城关镇（已完成）、梅林镇（待报送）", "信息科李四"],
        [
            second,
            "防汛准备",
            "2099-05-01 12:00",
            "城关镇（待报送）、梅林镇（待报送）、青山乡（待报送）",
            "科员甲",
        ],
        ["共 2 项 / 2 assignments"],
    ]
    qingshan = alerting("assignment", "list", "--township", "青山乡", "--format", "json", env=env)
    assert qingshan.returncode == 0, qingshan.stderr
    assert [(a["id"], [p["township"] for p in a["parts"]]) for a in json.loads(qingshan.stdout)] == [
        (second, ["青山乡"])
    ]
    shown = alerting("assignment", "show", first, "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    parts = {p["township"]: (p["state"], p["met_by"]) for p in json.loads(shown.stdout)["parts"]}
    assert parts == {"城关镇": ("met", "cg-a1"), "梅林镇": ("owed", None)}

    past = alerting("assignment", "create", "--title", "旧题", "--due", "2020-01-01", env=env)
    assert past.returncode == 2
    assert past.stderr.strip() == "alerting: 截止时间已过 / the due time is in the past"
    unknown = alerting(
        "assignment", "create", "--title", "新题", "--due", "2099-01-01", "--township", "外省镇", env=env
    )
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "alerting: 外省镇 不在乡镇名录中，可选：城关镇、梅林镇、青山乡 / not in the directory"
    )
    bad_day = alerting("assignment", "create", "--title", "新题", "--due", "6月30日", env=env)
    assert bad_day.returncode == 2 and "not an ISO date" in bad_day.stderr
    assert query(tmp_path, "SELECT count(*) FROM assignments") == [(2,)]


def test_an_officer_registered_then_ended_keeps_both_changes_in_the_register(tmp_path: Path) -> None:
    env = prepared(tmp_path)
    registered = alerting(
        "officer", "register", "--township", "城关镇", "--name", "王五", "--phone", "0791-80000009",
        "--employment", "part_time", "--starts-on", "2026-01-01", "--note", "新任", "--by", "信息科李四",
        env=env,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.splitlines()[0] == "已备案 / registered: 任期 1 / term 1"

    overlapping = alerting(
        "officer", "register", "--township", "城关镇", "--name", "王五", "--phone", "0791-80000009",
        "--employment", "full_time", "--starts-on", "2026-02-01", env=env,
    )  # fmt: skip
    assert overlapping.returncode == 2
    assert overlapping.stderr.strip() == (
        "alerting: 王五 在城关镇已有任期 2026-01-01～至今（编号 1），与新任期重叠 / "
        "overlaps term 1 of the same person"
    )
    bad_phone = alerting(
        "officer", "register", "--township", "城关镇", "--name", "赵六", "--phone", "call me",
        "--employment", "full_time", "--starts-on", "2026-04-01", env=env,
    )  # fmt: skip
    assert bad_phone.returncode == 2 and "a phone is 3 to 40 digits" in bad_phone.stderr

    ended = alerting("officer", "end", "1", "--ends-on", "2026-03-31", "--note", "调离", env=env)
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout.splitlines()[0] == "已备案离任 / term 1 ends on 2026-03-31"
    twice = alerting("officer", "end", "1", "--ends-on", "2026-04-30", env=env)
    assert twice.returncode == 2
    assert twice.stderr.strip() == "alerting: 任期 1 已于 2026-03-31 结束 / term 1 already ends on 2026-03-31"
    successor = alerting(
        "officer", "register", "--township", "城关镇", "--name", "赵六", "--phone", "13800000000",
        "--employment", "full_time", "--starts-on", "2026-04-01", "--by", "信息科李四", env=env,
    )  # fmt: skip
    assert successor.returncode == 0, successor.stderr
    elsewhere = alerting(
        "officer", "register", "--township", "梅林镇", "--name", "钱七", "--phone", "13900000000",
        "--employment", "full_time", "--starts-on", "2026-01-01", "--by", "信息科李四", env=env,
    )  # fmt: skip
    assert elsewhere.returncode == 0, elsewhere.stderr

    changes = query(tmp_path, "SELECT officer_id, kind, effective_on, by, at, note FROM officer_changes")
    assert [c[:4] + c[5:] for c in changes] == [
        (1, "registered", "2026-01-01", "信息科李四", "新任"),
        (1, "ended", "2026-03-31", "科员甲", "调离"),
        (2, "registered", "2026-04-01", "信息科李四", ""),
        (3, "registered", "2026-01-01", "信息科李四", ""),
    ]
    at = [local(c[4]) for c in changes]
    listed = alerting("officer", "list", "--township", "城关镇", env=env)
    assert listed.returncode == 0, listed.stderr
    terms, history = listed.stdout.split("备案记录 / changes")
    assert table_rows(terms) == [
        ["编号", "乡镇", "姓名", "电话", "类型", "任期开始", "任期结束", "状态", "备案人"],
        ["1", "城关镇", "王五", "0791-80000009", "兼职", "2026-01-01", "2026-03-31", "已离任", "信息科李四"],
        ["2", "城关镇", "赵六", "13800000000", "专职", "2026-04-01", "长期", "在任", "信息科李四"],
    ]
    assert table_rows(history) == [
        ["任期编号", "姓名", "事项", "生效日期", "经办人", "备案时间", "说明"],
        ["1", "王五", "备案任职", "2026-01-01", "信息科李四", at[0], "新任"],
        ["1", "王五", "备案离任", "2026-03-31", "科员甲", at[1], "调离"],
        ["2", "赵六", "备案任职", "2026-04-01", "信息科李四", at[2], "—"],
        ["共 2 段任期 / 2 terms"],
    ]
    on_day = alerting("officer", "list", "--active-on", "2026-03-15", "--format", "json", env=env)
    assert on_day.returncode == 0, on_day.stderr
    assert [(t["id"], t["name"], [c["kind"] for c in t["changes"]]) for t in json.loads(on_day.stdout)] == [
        (1, "王五", ["registered", "ended"]),
        (3, "钱七", ["registered"]),
    ]
    # Ending the term armed a vacancy from 2026-04-01; the successor starting that day cancelled it.
    assert query(tmp_path, "SELECT township, state FROM deadlines WHERE kind = 'officer_vacancy'") == [
        ("城关镇", "cancelled")
    ]
    missing = alerting("officer", "end", "9", "--ends-on", "2026-03-31", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "alerting: 未找到信息员任期 9 / no officer term 9"
