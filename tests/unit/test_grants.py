"""The service role's privileges per table (alerting/storage/grants.py), and a guard: no code of the
service updates, deletes or locks a table the role may only append to, or it would fail in production
with "permission denied" while every test run as a superuser passes."""

from __future__ import annotations

import re
from pathlib import Path

from alerting.storage.grants import APPEND, APPEND_ONLY, READ_WRITE, privileges_for
from alerting.storage.schema import metadata

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    path
    for package in ("alerting", "consumers", "escalation")
    for path in (ROOT / package).rglob("*.py")
    if "migrations" not in path.parts  # migrations run as the schema owner
]


def test_every_append_only_table_exists_and_every_table_has_its_privileges() -> None:
    assert APPEND_ONLY <= set(metadata.tables), APPEND_ONLY - set(metadata.tables)
    assert {"accountability_entries", "bulletins"} <= APPEND_ONLY  # the two with refusing triggers
    for table in metadata.tables:
        derived = {"accountability_entry_days", "accountability_review_state"}  # trigger-written
        expected = ("SELECT",) if table in derived else READ_WRITE
        assert privileges_for(table) == (APPEND if table in APPEND_ONLY else expected), table
    assert privileges_for("alembic_version") == ("SELECT",)
    assert privileges_for("some_other_apps_table") == ()


def _writes_to(table: str, text: str) -> list[str]:
    patterns = [
        rf"\b{table}\.(update|delete)\(",  # Core: table.update()
        rf"\b(update|delete)\(\s*{table}\b",  # Core: update(table)
        rf"(?i)\b(UPDATE|DELETE\s+FROM|TRUNCATE|LOCK\s+TABLE)\s+{table}\b",  # SQL text
    ]
    return [m.group(0) for pattern in patterns for m in re.finditer(pattern, text)]


def test_no_code_changes_or_locks_an_append_only_table() -> None:
    found = {
        f"{path.relative_to(ROOT)}: {hit}"
        for path in SOURCES
        for table in APPEND_ONLY
        for hit in _writes_to(table, path.read_text(encoding="utf-8"))
    }
    assert found == set()


def test_the_guard_sees_each_way_of_writing() -> None:
    assert _writes_to("reports", "await conn.execute(reports.update().where(x))")
    assert _writes_to("reports", "sa.delete( reports ).where(x)")
    assert _writes_to("reports", 'text("delete from reports where id = 1")')
    assert _writes_to("directory_changes", 'text("LOCK TABLE directory_changes IN SHARE MODE")')
    assert not _writes_to("reports", "reports.insert().values(x)")
    assert SOURCES and any(path.name == "intake.py" for path in SOURCES)
