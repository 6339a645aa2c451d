"""Accountability entries as CSV (UTF-8 with BOM, for Excel) and XLSX, with Chinese column headers;
and the small spreadsheet helpers the bulletin workbook shares."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from alerting.audit.xlsx_stream import FORMULA_START, StreamedWorkbook
from alerting.domain import ENTRY_ZH, FINDINGS_ZH

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
STATUS_ZH = {"pending": "待审核", "confirmed": "已确认", "waived": "已免责"}
RESPONSIBLE_ZH = {"duty_officer": "值班员", "county_office": "县委办"}

# (header, width in Excel character units)
COLUMNS: tuple[tuple[str, float], ...] = (
    ("编号", 8),
    ("类型", 12),
    ("认定", 8),
    ("状态", 8),
    ("乡镇", 12),
    ("责任方", 12),
    ("事件编号", 20),
    ("事件标题", 36),
    ("等级", 6),
    ("发生时间", 20),
    ("记录时间", 20),
    ("延误（分钟）", 12),
    ("详情", 50),
    ("哈希", 20),
)
HEADERS = tuple(header for header, _ in COLUMNS)


def kind_zh(kind: str) -> str:
    return ENTRY_ZH.get(kind, kind)


def finding_zh(finding: str | None) -> str:
    """A finding in Chinese: 瞒报 and 谎报 exist only as findings; the others are entry kinds."""
    if not finding:
        return ""
    return FINDINGS_ZH.get(finding) or ENTRY_ZH.get(finding, finding)


def status_zh(status: str) -> str:
    return STATUS_ZH.get(status, status)


def responsible_zh(responsible: str | None) -> str:
    return RESPONSIBLE_ZH.get(responsible or "", responsible or "")


def local_naive(at: datetime, tz: ZoneInfo) -> datetime:
    """Local wall-clock time without tzinfo (spreadsheets keep no offset), to the second."""
    return at.astimezone(tz).replace(tzinfo=None, microsecond=0)


def delay_minutes(delay_seconds: int | None) -> int | None:
    return None if delay_seconds is None else round(delay_seconds / 60)


def entry_row(entry: dict[str, Any], tz: ZoneInfo) -> list[object]:
    """One entry's cells in COLUMNS order; datetimes local and naive, None for an empty cell."""
    details = entry.get("details")
    return [
        entry["id"],
        kind_zh(entry["kind"]),
        finding_zh(entry.get("finding")),
        status_zh(entry.get("status") or ""),
        entry.get("township"),
        responsible_zh(entry.get("responsible")),
        entry.get("incident_id"),
        entry.get("incident_title"),
        entry.get("level"),
        local_naive(entry["occurred_at"], tz),
        local_naive(entry["recorded_at"], tz),
        delay_minutes(entry.get("delay_seconds")),
        json.dumps(details, ensure_ascii=False, separators=(",", ":"), default=str) if details else "",
        entry.get("hash"),
    ]


def csv_text(value: object) -> str:
    """A value as CSV text, neutralised against formula injection (a leading single quote)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


def _csv_lines(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return out.getvalue()


def csv_head() -> bytes:
    """The BOM, so that Excel reads the Chinese as UTF-8, and the header line."""
    return _csv_lines([HEADERS]).encode("utf-8-sig")


def csv_body(entries: Iterable[dict[str, Any]], tz: ZoneInfo) -> bytes:
    return _csv_lines([csv_text(v) for v in entry_row(e, tz)] for e in entries).encode("utf-8")


def entries_csv(entries: Iterable[dict[str, Any]], tz: ZoneInfo) -> bytes:
    """RFC 4180 CSV (CRLF, quoted where needed) in UTF-8 with a BOM."""
    return csv_head() + csv_body(entries, tz)


async def stream_csv(batches: AsyncIterator[list[dict[str, Any]]], tz: ZoneInfo) -> AsyncIterator[bytes]:
    """The same bytes as entries_csv, a batch at a time, each formatted off the event loop."""
    yield csv_head()
    async for batch in batches:
        yield await asyncio.to_thread(csv_body, batch, tz)


def xlsx_cell(sheet: Any, value: object, *, bold: bool = False, number_format: str | None = None) -> Any:
    """A write-only cell: text always stays text (never a formula), datetimes get a date format."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value) or None  # an empty cell, not an empty string
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would store "=..." as a formula
        if value.startswith(FORMULA_START):
            cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    if isinstance(value, datetime):
        cell.number_format = DATETIME_FORMAT
    if number_format:
        cell.number_format = number_format
    if bold:
        cell.font = Font(bold=True)
    return cell


def start_sheet(workbook: Any, title: str, columns: Sequence[tuple[str, float]]) -> Any:
    """A sheet with a bold, frozen header row that repeats on every printed page."""
    sheet = workbook.create_sheet(title)
    for index, (_, width) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"
    sheet.append([xlsx_cell(sheet, header, bold=True) for header, _ in columns])
    return sheet


def append_rows(sheet: Any, rows: Iterable[Sequence[object]], formats: dict[int, str] | None = None) -> int:
    count = 0
    for row in rows:
        sheet.append([xlsx_cell(sheet, v, number_format=(formats or {}).get(i)) for i, v in enumerate(row)])
        count += 1
    return count


def finish_sheet(sheet: Any, columns: int, rows: int) -> None:
    """An auto-filter over the header and the `rows` below it."""
    sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{rows + 1}"


def add_sheet(
    workbook: Any,
    title: str,
    columns: Sequence[tuple[str, float]],
    rows: Iterable[Sequence[object]],
    formats: dict[int, str] | None = None,
) -> None:
    sheet = start_sheet(workbook, title, columns)
    finish_sheet(sheet, len(columns), append_rows(sheet, rows, formats))


def workbook_bytes(workbook: Any) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


ENTRIES_SHEET = "问责记录"


def entries_xlsx(entries: Iterable[dict[str, Any]], tz: ZoneInfo) -> bytes:
    """One sheet 问责记录, same columns as the CSV; times are Excel datetimes in local time."""
    workbook = Workbook(write_only=True)
    add_sheet(workbook, ENTRIES_SHEET, COLUMNS, (entry_row(e, tz) for e in entries))
    return workbook_bytes(workbook)


async def stream_xlsx(batches: AsyncIterator[list[dict[str, Any]]], tz: ZoneInfo) -> AsyncIterator[bytes]:
    """The cells of entries_xlsx, sent while they are written: each batch is formatted and compressed
    off the event loop, and a sheet that reaches Excel's 1,048,576 rows continues on the next one."""
    workbook = StreamedWorkbook(ENTRIES_SHEET, COLUMNS)
    yield workbook.start()
    async for batch in batches:

        def rows(batch: list[dict[str, Any]] = batch) -> bytes:
            return workbook.append([entry_row(e, tz) for e in batch])

        if chunk := await asyncio.to_thread(rows):
            yield chunk
    yield await asyncio.to_thread(workbook.close)
