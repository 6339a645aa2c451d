"""The streamed workbook: what openpyxl (as Excel would) reads back from it, sheet overflow, and that
the bytes leave batch by batch rather than at the end."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import openpyxl
import pytest

from alerting.audit import xlsx_stream
from alerting.audit.xlsx_stream import StreamedWorkbook

COLUMNS = (("编号", 8.0), ("名称", 30.0), ("时间", 20.0), ("分钟", 10.0))
ROWS: list[list[object]] = [
    [1, "城关镇 <迟报> & 'x'", datetime(2026, 4, 1, 0, 30), 30],
    [2, '=HYPERLINK("http://evil","点我")', datetime(2026, 12, 31, 23, 59, 59), None],
    [3, "  前后有空格  ", None, 2.5],
    [4, "控制\x01字符\x1f去掉", datetime(1999, 1, 1), -1],
    [5, "", None, None],
]


def _write(rows: list[list[object]], per_batch: int = 2) -> tuple[bytes, list[bytes]]:
    book = StreamedWorkbook("问责记录", COLUMNS)
    chunks = [book.start()]
    for start in range(0, len(rows), per_batch):
        chunks.append(book.append(rows[start : start + per_batch]))
    chunks.append(book.close())
    return b"".join(chunks), chunks


def test_openpyxl_reads_back_every_cell_its_type_and_the_sheet_settings() -> None:
    data, _ = _write(ROWS)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["问责记录"]
    sheet = book["问责记录"]
    assert [c.value for c in sheet[1]] == [name for name, _ in COLUMNS]
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:D6"
    assert sheet.column_dimensions["B"].width == 30
    assert book.defined_names.get("_xlnm.Print_Titles") is None  # sheet-scoped, as Excel keeps it
    assert sheet.print_title_rows == "$1:$1"
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2, max_col=4)]
    assert values == [
        [1, "城关镇 <迟报> & 'x'", datetime(2026, 4, 1, 0, 30), 30],
        [2, '=HYPERLINK("http://evil","点我")', datetime(2026, 12, 31, 23, 59, 59), None],
        [3, "  前后有空格  ", None, 2.5],
        [4, "控制字符去掉", datetime(1999, 1, 1), -1],
        [5, None, None, None],
    ]
    formula_like = sheet["B3"]
    assert formula_like.data_type == "s" and formula_like.quotePrefix
    assert not sheet["B2"].quotePrefix
    assert sheet["C2"].number_format == "yyyy-mm-dd hh:mm:ss"


def test_a_full_sheet_continues_on_the_next_with_its_own_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_stream, "MAX_ROWS", 3)  # a header and two rows per sheet
    data, _ = _write(ROWS, per_batch=3)
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["问责记录", "问责记录 (2)", "问责记录 (3)"]
    ids = []
    for sheet in book.worksheets:
        assert [c.value for c in sheet[1]] == [name for name, _ in COLUMNS]
        assert sheet.freeze_panes == "A2" and sheet.print_title_rows == "$1:$1"
        ids += [row[0].value for row in sheet.iter_rows(min_row=2)]
        assert sheet.auto_filter.ref == f"A1:D{sheet.max_row}"
    assert ids == [1, 2, 3, 4, 5]


def test_bytes_leave_with_each_batch_not_only_at_the_end() -> None:
    rows = [[n, f"第{n}行" * 40, datetime(2026, 1, 1), n] for n in range(20_000)]
    data, chunks = _write(rows, per_batch=1000)
    assert chunks[0]  # the ZIP's first part header is out before any row is read
    middle = chunks[1:-1]
    assert sum(1 for c in middle if c) >= len(middle) // 2
    assert sum(len(c) for c in middle) > len(data) // 2
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["问责记录"]
    assert sum(1 for _ in sheet.iter_rows()) == 20_001


def test_an_empty_export_is_a_header_alone() -> None:
    data, _ = _write([])
    sheet = openpyxl.load_workbook(io.BytesIO(data))["问责记录"]
    assert sheet.max_row == 1 and sheet.auto_filter.ref == "A1:D1"
