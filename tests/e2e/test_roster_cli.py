"""`alerting roster ...` as the office runs it: real processes on a SQLite file. The first command
seeds the database from the policy, as the service's first start would."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import EXAMPLE, alerting, base_env
from tests.e2e.test_work_cli import table_rows

HEADER = "开始,结束,值班员,值班员电话,带班领导,带班领导电话\n"


def prepared(tmp_path: Path) -> dict[str, str]:
    return {**base_env(tmp_path, EXAMPLE), "LOGNAME": "科员甲"}  # the OS user, when --by is absent


def test_the_roster_is_imported_swapped_and_withdrawn_and_posts_change_hands(tmp_path: Path) -> None:
    env = prepared(tmp_path)
    posts = alerting("roster", "posts", env=env)
    assert posts.returncode == 0, posts.stderr
    assert table_rows(posts.stdout)[:2] == [
        ["岗位", "乡镇", "姓名", "电话"],
        ["信息科负责人", "县级", "信息科 刘科长", "0791-80000001"],
    ]

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "2026-11-26 08:30,2026-11-27 08:30,孙七,,,\n", encoding="utf-8")
    refused = alerting("roster", "import", str(bad), env=env)
    assert refused.returncode == 2
    assert "line 2, column 值班员电话: phone is missing" in refused.stderr

    good = tmp_path / "december.csv"
    good.write_text(HEADER + "2026-11-26 08:30,2026-11-27 08:30,孙七,13900000007,周八,13900000008\n", "utf-8")
    imported = alerting("roster", "import", str(good), "--note", "调班", "--by", "信息科李四", env=env)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == (
        "已导入 / imported: 1 个班次（2026-11-26 08:30 至 2026-11-27 08:30），替换原有 1 个 / replaced 1\n"
    )
    swap = alerting(
        "roster", "add", "--start", "2026-11-26T12:00", "--end", "2026-11-26T18:00",
        "--officer", "赵九", "--phone", "13900000009", "--note", "下午调班", env=env,
    )  # fmt: skip
    assert swap.returncode == 0, swap.stderr
    [_, added] = table_rows(swap.stdout)
    assert added[1:] == ["2026-11-26 12:00", "2026-11-26 18:00", "赵九", "13900000009", "cli", "有效"]

    def on_duty(at: str) -> list[list[str]]:
        found = alerting("roster", "on-duty", "--at", at, env=env)
        assert found.returncode == 0, found.stderr
        return table_rows(found.stdout)[1:3]

    assert on_duty("2026-11-26T13:00") == [
        ["值班员", "赵九", "13900000009"],
        ["带班领导", "周八", "13900000008"],
    ]
    withdrawn = alerting("roster", "withdraw", added[0], "--note", "调班取消", env=env)
    assert withdrawn.returncode == 0 and "已撤销" in withdrawn.stdout
    again = alerting("roster", "withdraw", added[0], "--note", "again", env=env)
    assert again.returncode == 2 and "already withdrawn" in again.stderr
    assert on_duty("2026-11-26T13:00")[0] == ["值班员", "孙七", "13900000007"]

    handed = alerting(
        "roster", "set-post", "section_chief", "--name", "信息科 周科长", "--phone", "0791-80000011", env=env
    )
    assert handed.returncode == 0 and handed.stdout == "已设置 / set: 信息科负责人 → 信息科 周科长\n"
    nowhere = alerting("roster", "set-post", "township_leader", "--name", "某", "--phone", "0791-1", env=env)
    assert nowhere.returncode == 2 and "not in the township directory" in nowhere.stderr
    neither = alerting("roster", "set-post", "director", env=env)
    assert neither.returncode == 2 and "give --name and --phone, or --vacant" in neither.stderr

    history = alerting("roster", "changes", "--format", "json", env=env)
    assert [(c["action"], c["by"], c["note"]) for c in json.loads(history.stdout)] == [
        ("post_set", "科员甲", ""),
        ("shift_withdrawn", "科员甲", "调班取消"),
        ("shift_added", "科员甲", "下午调班"),
        ("imported", "信息科李四", "调班"),
        ("seeded", "policy", "由策略文件初始化 / seeded from the policy"),
    ]
