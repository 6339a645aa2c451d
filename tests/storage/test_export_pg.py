"""The export PostgreSQL formats (export_pg) against the one Python formats (exports), on the same rows:
the hand-written ledger, and entries whose text is made to trip a formatter (quotes, commas, line
breaks, formula starts, characters XML cannot hold, spaces at the ends, half minutes of delay)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.audit import export_pg, export_stream
from alerting.audit.exports import entries_csv, entries_xlsx
from alerting.audit.queries import EntryQuery, iterate_entries
from alerting.domain import EntryKind, EntryStatus, Level
from alerting.policy.model import Policy
from alerting.storage.engine import reading
from tests.storage.test_audit_queries import BASE, HOUR, Ledger, ledger
from tests.storage.test_rule_reports import report, store

__all__ = ["ledger"]  # the fixture, imported for pytest

BEIJING = ZoneInfo("Asia/Shanghai")

TITLES = [
    'A "quoted", comma title',
    "两行\r\n标题",
    '=HYPERLINK("http://127.0.0.1/")',
    "+1 山体滑坡",
    "-2 人受伤",
    "@SUM(A1)",
    "\t开头是制表符",
    "  两端有空格  ",
    "控制\x01字符\x1f与 <b>&amp;</b>",
    "\u3000全角空格",
]
# Seconds of delay around the halves, where Python rounds to the even minute.
DELAYS = [None, 0, 29, 30, 31, 90, 150, 1830, -30, -90, -31, 3599]


async def _tricky(engine: AsyncEngine, policy: Policy) -> None:
    """An incident per title, and entries on them with the delays above, one an hour before local
    midnight so that its local day differs from its UTC day."""
    for n, title in enumerate(TITLES):
        await store(engine, policy, report(f"inc-x{n}", township="梅林镇", level=Level.IV, title=title))
    for n, delay in enumerate(DELAYS):
        at = datetime(2026, 4, 30, 15, 30, 59, 999999, tzinfo=UTC) + n * HOUR
        details: dict[str, Any] = {"说明": 'a "b", c\nd', "n": n, "x": 0.1} if n % 3 else {}
        async with engine.begin() as conn:
            await append(
                conn,
                NewEntry(
                    kind=EntryKind.LATE_REPORT if n % 2 else EntryKind.CONCEALMENT_SUSPECTED,
                    township="梅林镇" if n % 4 else "=cmd|' /C calc'!A0",
                    responsible="梅林镇",
                    occurred_at=at,
                    incident_id=f"inc-x{n % len(TITLES)}",
                    delay_seconds=delay,
                    details=details,
                ),
                at + timedelta(seconds=n),
            )


async def _python_rows(engine: AsyncEngine, q: EntryQuery) -> list[dict[str, Any]]:
    async with reading(engine) as conn:
        return [e async for e in iterate_entries(conn, q)]


async def _exported(engine: AsyncEngine, q: EntryQuery, format: str) -> tuple[bytes, list[int]]:
    counts: list[int] = []
    async with reading(engine) as conn:
        chunks = [c async for c in export_stream.export(conn, q, BEIJING, format, counts.append)]  # type: ignore[arg-type]
    return b"".join(chunks), counts


def _cells(data: bytes) -> list[list[list[object]]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return [[[c.value for c in row] for row in sheet.iter_rows()] for sheet in workbook.worksheets]


QUERIES = [
    EntryQuery(),
    EntryQuery(auto_confirm=frozenset({"late_report", "silent_unit"})),
    EntryQuery(township="梅林镇", status=EntryStatus.PENDING),
    EntryQuery(status=EntryStatus.CONFIRMED),
    EntryQuery(status=EntryStatus.WAIVED, since=BASE, until=BASE + 5 * HOUR),
    EntryQuery(level="IV", since=BASE + 2 * HOUR),
    EntryQuery(since=datetime(2030, 1, 1, tzinfo=UTC)),  # no entries in the period
]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("q", QUERIES)
async def test_postgresql_formats_what_python_formats(ledger: Ledger, policy: Policy, q: EntryQuery) -> None:
    await _tricky(ledger.engine, policy)
    rows = await _python_rows(ledger.engine, q)
    csv, counts = await _exported(ledger.engine, q, "csv")
    assert csv == entries_csv(rows, BEIJING)
    assert sum(counts) == len(rows)
    xlsx, _ = await _exported(ledger.engine, q, "xlsx")
    assert _cells(xlsx) == _cells(entries_xlsx(rows, BEIJING))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_batches_meet_and_a_full_sheet_goes_on_to_the_next(
    ledger: Ledger, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 4 rows and sheets of 10 (header included): the rows are the same, split as
    Python's streamed workbook splits them, each sheet with its header."""
    await _tricky(ledger.engine, policy)
    monkeypatch.setattr(export_pg, "BATCH", 4)
    monkeypatch.setattr("alerting.audit.xlsx_stream.MAX_ROWS", 10)
    rows = await _python_rows(ledger.engine, EntryQuery())
    assert len(rows) == 37
    csv, counts = await _exported(ledger.engine, EntryQuery(), "csv")
    assert csv == entries_csv(rows, BEIJING)
    assert counts == [4] * 9 + [1]
    xlsx, counts = await _exported(ledger.engine, EntryQuery(), "xlsx")
    sheets = _cells(xlsx)
    assert [len(s) for s in sheets] == [10, 10, 10, 10, 2]
    assert all(s[0] == sheets[0][0] for s in sheets)
    (whole,) = _cells(entries_xlsx(rows, BEIJING))
    assert [r for s in sheets for r in s[1:]] == whole[1:]
    assert counts == [4, 4, 1] * 4 + [1]
    assert openpyxl.load_workbook(io.BytesIO(xlsx)).sheetnames == [
        "问责记录",
        "问责记录 (2)",
        "问责记录 (3)",
        "问责记录 (4)",
        "问责记录 (5)",
    ]
