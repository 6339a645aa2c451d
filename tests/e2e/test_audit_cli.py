"""`alerting audit ...` as an auditor runs it: real processes, a SQLite file written by the product."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.audit import reviews
from alerting.domain import EntryKind, ReviewDecision, Role
from alerting.storage.engine import create_engine
from tests.e2e.test_cli import EXAMPLE, alerting, base_env

RECORDED = datetime(2026, 3, 12, 1, 0, tzinfo=UTC)


async def _write_entries(database_url: str) -> list[int]:
    """Two entries in 2026-Q1 through the log's own append, the first confirmed by an auditor's review."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            late = await append(
                conn,
                NewEntry(
                    kind=EntryKind.LATE_REPORT,
                    township="城关镇",
                    responsible="城关镇",
                    occurred_at=datetime(2026, 3, 10, 2, 0, tzinfo=UTC),  # 10:00 local
                    incident_id="inc-城关-1",
                    delay_seconds=1800,
                    details={"deadline": "first_report", "说明": "首报迟到"},
                ),
                RECORDED,
            )
            unacked = await append(
                conn,
                NewEntry(
                    kind=EntryKind.UNACKNOWLEDGED,
                    township="梅林镇",
                    responsible="duty_officer",
                    occurred_at=datetime(2026, 3, 11, 14, 0, tzinfo=UTC),
                    incident_id="inc-梅林-1",
                    details={"deadline": "ack"},
                ),
                RECORDED,
            )
            await reviews.review(
                conn,
                late,
                reviews.Review(ReviewDecision.CONFIRM, "核实属实"),
                "审计 赵",
                RECORDED,
                role=Role.AUDITOR,
            )
        return [late, unacked]
    finally:
        await engine.dispose()


def _prepared(tmp_path: Path) -> tuple[dict[str, str], list[int]]:
    env = base_env(tmp_path, EXAMPLE)
    upgraded = alerting("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    ids = asyncio.run(_write_entries(env["ALERTING_DATABASE_URL"]))
    return env, ids


def test_list_export_verify_then_tamper_and_bulletin(tmp_path: Path) -> None:
    env, (late, unacked) = _prepared(tmp_path)

    listed = alerting("audit", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["编号", "类型", "状态", "乡镇", "事件", "发生时间", "延误（分钟）"]
    late_line = next(line for line in lines if line.split()[:1] == [str(late)])
    assert "迟报" in late_line and "已确认" in late_line and "城关镇" in late_line
    assert "2026-03-10 10:00" in late_line and late_line.rstrip().endswith("30")
    unacked_line = next(line for line in lines if line.split()[:1] == [str(unacked)])
    assert "未及时签收" in unacked_line and "待审核" in unacked_line and unacked_line.rstrip().endswith("—")
    assert "共 2 条" in listed.stdout

    pending = alerting("audit", "list", "--status", "pending", env=env)
    assert pending.returncode == 0, pending.stderr
    assert "未及时签收" in pending.stdout and "城关镇" not in pending.stdout

    out = tmp_path / "f.csv"
    exported = alerting("audit", "list", "--format", "csv", "--output", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [r["编号"] for r in rows] == [str(late), str(unacked)]
    assert rows[0]["类型"] == "迟报" and rows[0]["认定"] == "迟报" and rows[0]["状态"] == "已确认"
    assert rows[0]["发生时间"] == "2026-03-10 10:00:00" and rows[0]["延误（分钟）"] == "30"
    assert json.loads(rows[0]["详情"])["说明"] == "首报迟到"
    assert rows[1]["责任方"] == "值班员" and rows[1]["认定"] == "" and rows[1]["延误（分钟）"] == ""

    totals = alerting("audit", "totals", env=env)
    assert totals.returncode == 0, totals.stderr
    assert "城关镇" in totals.stdout and "未及时签收" in totals.stdout and "合计 2 条" in totals.stdout

    bulletin = alerting("audit", "bulletin", "2026-Q1", "--format", "json", env=env)
    assert bulletin.returncode == 0, bulletin.stderr
    document = json.loads(bulletin.stdout)
    assert document["published"] is False and document["period"] == "2026-Q1"
    towns = {row["township"]: row for row in document["townships"]}
    assert set(towns) == {"城关镇", "梅林镇", "青山乡"}
    assert towns["城关镇"]["failures"] == {"late_report": 1}
    assert [c["entry_id"] for c in document["criticisms"]] == [late]

    intact = alerting("audit", "verify", "--no-checkpoint", env=env)
    assert intact.returncode == 0, intact.stderr
    assert "完整 / intact: 3 entries" in intact.stdout  # the review is an entry of the chain too

    db = sqlite3.connect(tmp_path / "a.db")
    try:
        db.execute("DROP TRIGGER accountability_entries_no_update")
        db.execute(
            "UPDATE accountability_entries SET details = ? WHERE id = ?",
            (json.dumps({"deadline": "ack", "note": "改过"}), unacked),
        )
        db.commit()
    finally:
        db.close()
    broken = alerting("audit", "verify", env=env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"entry {unacked}" in broken.stdout and "content changed" in broken.stdout


def test_bad_arguments_are_refused_with_exit_2(tmp_path: Path) -> None:
    env, _ = _prepared(tmp_path)
    period = alerting("audit", "bulletin", "2026-Q5", env=env)
    assert period.returncode == 2 and "2026-Q1" in period.stderr
    since = alerting("audit", "list", "--since", "yesterday", env=env)
    assert since.returncode == 2 and "ISO 8601" in since.stderr
    unended = alerting("audit", "bulletin", "2099-Q1", "--publish", env=env)
    assert unended.returncode == 2 and "not ended" in unended.stderr


def _tamper(tmp_path: Path, entry_id: int) -> None:
    db = sqlite3.connect(tmp_path / "a.db")
    try:
        db.execute("DROP TRIGGER IF EXISTS accountability_entries_no_update")
        db.execute(
            "UPDATE accountability_entries SET details = ? WHERE id = ?",
            (json.dumps({"deadline": "ack", "note": "改过"}), entry_id),
        )
        db.commit()
    finally:
        db.close()


def _entries(tmp_path: Path) -> list[tuple[int, str, str]]:
    db = sqlite3.connect(tmp_path / "a.db")
    try:
        return list(db.execute("SELECT id, kind, details FROM accountability_entries ORDER BY id"))
    finally:
        db.close()


def test_verify_records_a_checkpoint_and_goes_on_from_it(tmp_path: Path) -> None:
    env, (late, unacked) = _prepared(tmp_path)
    review = late + 2  # the two entries, then the review of the first

    read_only = alerting("audit", "verify", "--no-checkpoint", env=env)
    assert read_only.returncode == 0, read_only.stderr
    assert read_only.stdout.splitlines()[-1] == "未记录校验检查点 / no checkpoint recorded (--no-checkpoint)"
    assert [kind for _, kind, _ in _entries(tmp_path)] == ["late_report", "unacknowledged", "review"]

    full = alerting("audit", "verify", env=env)
    assert full.returncode == 0, full.stderr
    written = _entries(tmp_path)
    checkpoint, kind, details = written[-1]
    assert (checkpoint, kind) == (review + 1, "checkpoint")
    head = json.loads(details)["verified_hash"]
    assert json.loads(details) == {
        "verified_through": review,
        "verified_hash": head,
        "entries_checked": 3,
        "scope": "full",
        "since": None,
    }
    assert full.stdout.splitlines() == [
        "范围 / scope: 全链 / full",
        "完整 / intact: 3 entries",
        f"校验至 / verified through: 第 {review} 号记录 / entry {review}",
        f"末条哈希 / last hash: {head}",
        f"已记录校验检查点 / checkpoint recorded: 第 {checkpoint} 号记录 / entry {checkpoint}",
    ]

    since = alerting("audit", "verify", "--since-checkpoint", env=env)
    assert since.returncode == 0, since.stderr
    lines = since.stdout.splitlines()
    assert lines[:3] == [
        f"范围 / scope: 自第 {checkpoint} 号校验检查点起 / since checkpoint {checkpoint}",
        "完整 / intact: 1 entries",  # the checkpoint entry itself
        f"校验至 / verified through: 第 {checkpoint} 号记录 / entry {checkpoint}",
    ]
    second = checkpoint + 1
    assert lines[-1] == f"已记录校验检查点 / checkpoint recorded: 第 {second} 号记录 / entry {second}"
    assert json.loads(_entries(tmp_path)[-1][2])["since"] == checkpoint

    _tamper(tmp_path, unacked)  # before both checkpoints
    unseen = alerting("audit", "verify", "--since-checkpoint", "--no-checkpoint", env=env)
    assert unseen.returncode == 0, unseen.stdout + unseen.stderr
    assert "完整 / intact: 1 entries" in unseen.stdout
    caught = alerting("audit", "verify", env=env)
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert caught.stdout.splitlines()[:3] == [
        "范围 / scope: 全链 / full",
        f"断裂 / broken: 第 {unacked} 号记录 / entry {unacked}",
        "问题 / problem: 内容被改动 / content changed",
    ]
    assert len(_entries(tmp_path)) == second  # a broken chain gets no checkpoint


def test_a_run_since_the_checkpoint_catches_an_edit_after_it(tmp_path: Path) -> None:
    env, (late, unacked) = _prepared(tmp_path)
    first = alerting("audit", "verify", "--since-checkpoint", env=env)  # none yet: a full run
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == "范围 / scope: 全链 / full"
    checkpoint = late + 3

    async def one_more() -> int:
        engine = create_engine(env["ALERTING_DATABASE_URL"])
        try:
            async with engine.begin() as conn:
                entry = NewEntry(EntryKind.UNACKNOWLEDGED, "梅林镇", "duty_officer", RECORDED, details={})
                return await append(conn, entry, RECORDED)
        finally:
            await engine.dispose()

    after = asyncio.run(one_more())
    _tamper(tmp_path, after)
    broken = alerting("audit", "verify", "--since-checkpoint", env=env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    db = sqlite3.connect(tmp_path / "a.db")
    try:
        [(stored_hash,)] = db.execute("SELECT hash FROM accountability_entries WHERE id = ?", (after,))
    finally:
        db.close()
    lines = broken.stdout.splitlines()
    assert lines[:3] == [
        f"范围 / scope: 自第 {checkpoint} 号校验检查点起 / since checkpoint {checkpoint}",
        f"断裂 / broken: 第 {after} 号记录 / entry {after}",
        "问题 / problem: 内容被改动 / content changed",
    ]
    assert lines[3].startswith("应为 / expected: ") and len(lines[3].split()[-1]) == 64
    assert lines[4:] == [
        f"实际 / found:    {stored_hash}",
        "已校验 / checked: 2 entries",  # the checkpoint, then the edited entry
        "自校验检查点起的校验没有检查更早的记录；请再做一次全链校验 / run a full verification too",
    ]
    assert unacked < checkpoint < after
