"""`alerting roster feishu-ids ...` as the office runs it: real processes on a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import EXAMPLE, alerting, base_env
from tests.e2e.test_work_cli import table_rows

OU_WANG, OU_CHEN = "ou_7d8a6e6df7621556ce0d21922b676706", "ou_2f0b4e3c9a1d8e7f6a5b4c3d2e1f0a9b"


def test_ids_are_set_imported_cleared_and_listed(tmp_path: Path) -> None:
    env = {**base_env(tmp_path, EXAMPLE), "LOGNAME": "科员甲"}
    empty = alerting("roster", "feishu-ids", "list", env=env)
    assert (empty.returncode, empty.stdout) == (0, "尚未设置任何飞书 ID / no Feishu ids set\n"), empty.stderr

    one = alerting("roster", "feishu-ids", "set", "+86 138-0000-0001", OU_WANG, "--note", "本人提供", env=env)
    assert one.returncode == 0, one.stderr
    assert one.stdout == "已设置 1 人、清除 0 人、未变 0 人 / set 1, cleared 0, unchanged 0\n"
    bad = alerting("roster", "feishu-ids", "set", "13800000001", "<at id=all>", env=env)
    assert bad.returncode == 2 and "not a Feishu id" in bad.stderr and "<at" not in bad.stderr

    sheet = tmp_path / "ids.csv"
    sheet.write_text(f"姓名,电话,飞书ID\n王小明,13800000001,{OU_WANG}\n陈丽,13800000002,{OU_CHEN}\n", "utf-8")
    imported = alerting("roster", "feishu-ids", "import", str(sheet), "--by", "信息科李四", env=env)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("已设置 1 人、清除 0 人、未变 1 人")
    broken = tmp_path / "broken.csv"
    broken.write_text("姓名,电话,飞书ID\n王小明,,ou_1\n", "utf-8")
    refused = alerting("roster", "feishu-ids", "import", str(broken), env=env)
    assert refused.returncode == 2 and "line 2, column 电话" in refused.stderr

    cleared = alerting("roster", "feishu-ids", "clear", "13800000002", "--note", "离职", env=env)
    assert cleared.returncode == 0 and "清除 1 人" in cleared.stdout
    listed = alerting("roster", "feishu-ids", "list", env=env)
    [header, row] = table_rows(listed.stdout)
    assert header == ["电话", "飞书 ID", "设置人", "时间", "说明"]
    assert (row[:3], row[-1]) == (["13800000001", OU_WANG, "科员甲"], "本人提供")
    history = alerting("roster", "changes", "--format", "json", env=env)
    assert [(c["action"], c["by"], c["note"]) for c in json.loads(history.stdout)][:3] == [
        ("feishu_ids_set", "科员甲", "离职"),
        ("feishu_ids_set", "信息科李四", ""),
        ("feishu_ids_set", "科员甲", "本人提供"),
    ]
