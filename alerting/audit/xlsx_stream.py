"""A workbook written while it is sent: its parts go into a ZIP stream (data descriptors, no seeking) and
each sheet row by row as XML, so the first bytes leave before the last row is read and memory holds
one batch. Only what the entries export needs: inline text, numbers, datetimes, a bold frozen header
that repeats on printed pages, an auto-filter, and a new sheet when one is full."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO
from xml.sax.saxutils import escape, quoteattr

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

MAX_ROWS = 1_048_576  # Excel's rows per sheet, the header's included
MAX_SHEET_BYTES = 1_500_000_000  # below ZIP's 2 GiB per part without Zip64, which some readers lack
EXCEL_EPOCH = datetime(1899, 12, 30)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Cell styles (cellXfs below): plain, bold header, date and time, text kept text when edited.
PLAIN, BOLD, DATETIME, QUOTED = 0, 1, 2, 3

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_OOXML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_RELS_TYPE = "application/vnd.openxmlformats-package.relationships+xml"
_RELS_TYPE = "application/vnd.openxmlformats-package.relationships+xml"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
STYLES = (
    f'{_HEAD}<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)


class _Sink:
    """What zipfile writes, kept until the next drain (zipfile sees no tell/seek and streams)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def cell_xml(ref: str, value: object, style: int = PLAIN) -> str:
    """One cell, or "" for an empty one; text is always inline text, never a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        delta = value - EXCEL_EPOCH
        serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
        return f'<c r="{ref}" s="{DATETIME}"><v>{serial!r}</v></c>'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<c r="{ref}"{_style(style)}><v>{value!r}</v></c>'
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    if not text:
        return ""
    if style == PLAIN and text.startswith(FORMULA_START):
        style = QUOTED
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}"{_style(style)} t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'


def _style(style: int) -> str:
    return f' s="{style}"' if style else ""


class StreamedWorkbook:
    """start(), then append() per batch, then close(); each returns the bytes ready to send."""

    def __init__(self, title: str, columns: Sequence[tuple[str, float]], compresslevel: int = 1) -> None:
        self._title = title
        self._columns = columns
        self._letters = [get_column_letter(i) for i in range(1, len(columns) + 1)]
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        self._sheets: list[str] = []
        self._part: IO[bytes] | None = None
        self._row = 0  # rows written in the current sheet, the header's included
        self._bytes = 0

    @property
    def letters(self) -> list[str]:
        return list(self._letters)

    def start(self) -> bytes:
        self._new_sheet()
        return self._sink.drain()

    def append(self, rows: Iterable[Sequence[object]]) -> bytes:
        out: list[str] = []
        for values in rows:
            if self._row >= MAX_ROWS or self._bytes >= MAX_SHEET_BYTES:
                self._write(out)
                out = []
                self._end_sheet()
                self._new_sheet()
            self._row += 1
            n = str(self._row)
            cells = "".join(cell_xml(letter + n, v) for letter, v in zip(self._letters, values, strict=True))
            out.append(f'<row r="{n}">{cells}</row>')
        self._write(out)
        return self._sink.drain()

    def room(self) -> tuple[int, int]:
        """(the next row's number, how many rows fit from there) in the current sheet, starting the
        next sheet when this one is full: for rows made elsewhere (append_made)."""
        if self._row >= MAX_ROWS or self._bytes >= MAX_SHEET_BYTES:
            self._end_sheet()
            self._new_sheet()
        return self._row + 1, MAX_ROWS - self._row

    def append_made(self, xml: bytes, rows: int) -> bytes:
        """`rows` <row> elements numbered from room()'s next row, made elsewhere (export_pg)."""
        if self._part is not None and xml:
            self._bytes += len(xml)
            self._part.write(xml)
        self._row += rows
        return self._sink.drain()

    def close(self) -> bytes:
        self._end_sheet()
        self._zip.writestr("xl/workbook.xml", self._workbook())
        self._zip.writestr("xl/_rels/workbook.xml.rels", self._workbook_rels())
        self._zip.writestr("xl/styles.xml", STYLES)
        self._zip.writestr("[Content_Types].xml", self._content_types())
        self._zip.writestr(
            "_rels/.rels",
            f'{_HEAD}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        self._zip.close()
        return self._sink.drain()

    def _write(self, parts: list[str]) -> None:
        if parts and self._part is not None:
            data = "".join(parts).encode("utf-8")
            self._bytes += len(data)
            self._part.write(data)

    def _new_sheet(self) -> None:
        number = len(self._sheets) + 1
        self._sheets.append(self._title if number == 1 else f"{self._title} ({number})")
        self._part = self._zip.open(f"xl/worksheets/sheet{number}.xml", "w")
        self._row, self._bytes = 0, 0
        widths = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
            for i, (_, w) in enumerate(self._columns, start=1)
        )
        self._part.write(
            (
                f'{_HEAD}<worksheet xmlns="{_MAIN}"><sheetViews><sheetView workbookViewId="0">'
                '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
                f'<sheetFormatPr defaultRowHeight="15"/><cols>{widths}</cols><sheetData>'
            ).encode()
        )
        self._row = 1
        header = "".join(
            cell_xml(f"{letter}1", name, BOLD)
            for letter, (name, _) in zip(self._letters, self._columns, strict=True)
        )
        self._write([f'<row r="1">{header}</row>'])

    def _end_sheet(self) -> None:
        if self._part is None:
            return
        ref = f"A1:{self._letters[-1]}{self._row}"
        self._part.write(f'</sheetData><autoFilter ref="{ref}"/></worksheet>'.encode())
        self._part.close()
        self._part = None

    def _workbook(self) -> str:
        sheets = "".join(
            f'<sheet name={quoteattr(name)} sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(self._sheets, start=1)
        )
        titles = "".join(
            f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
            f"{escape(_quoted_sheet(name))}!$1:$1</definedName>"
            for i, name in enumerate(self._sheets)
        )
        return (
            f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews><workbookView/></bookViews>'
            f"<sheets>{sheets}</sheets><definedNames>{titles}</definedNames></workbook>"
        )

    def _workbook_rels(self) -> str:
        links = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(self._sheets) + 1)
        )
        styles = f'<Relationship Id="rId{len(self._sheets) + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        return f'{_HEAD}<Relationships xmlns="{_PKG_REL}">{links}{styles}</Relationships>'

    def _content_types(self) -> str:
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_OOXML}.worksheet+xml"/>'
            for i in range(1, len(self._sheets) + 1)
        )
        return (
            f'{_HEAD}<Types xmlns="{_TYPES}">'
            f'<Default Extension="rels" ContentType="{_RELS_TYPE}"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_OOXML}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_OOXML}.styles+xml"/>{sheets}</Types>'
        )


def _quoted_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"
