"""Exports and renderings read back with the library that wrote them: CSV, XLSX, the bulletin, tables."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl

from alerting.audit.exports import HEADERS, entries_csv, entries_xlsx, stream_csv, stream_xlsx
from alerting.audit.render import bulletin_html, bulletin_xlsx
from alerting.cli.tables import display_width, render_table

TZ = ZoneInfo("Asia/Shanghai")


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": 1,
        "kind": "late_report",
        "township": "城关镇",
        "incident_id": "inc-1",
        "report_id": "r-1",
        "deadline_id": 7,
        "refers_to": None,
        "responsible": "城关镇",
        "occurred_at": datetime(2026, 3, 31, 16, 30, tzinfo=UTC),
        "recorded_at": datetime(2026, 3, 31, 16, 31, 5, tzinfo=UTC),
        "delay_seconds": 1830,
        "details": {"deadline": "first_report", "说明": "首报迟到"},
        "prev_hash": "0" * 64,
        "hash": "a" * 64,
        "status": "confirmed",
        "finding": "late_report",
        "latest_review_id": 9,
        "level": "III",
        "incident_title": "城关镇幸福路民房火灾",
    }
    return {**entry, **overrides}


ENTRIES = [
    _entry(),
    _entry(
        id=2,
        kind="concealment_suspected",
        township="梅林镇",
        responsible="梅林镇",
        incident_title='=HYPERLINK("http://evil","点我")',
        delay_seconds=None,
        status="confirmed",
        finding="concealment",
        occurred_at=datetime(2026, 2, 1, 1, 0, tzinfo=UTC),
        recorded_at=datetime(2026, 2, 1, 1, 0, tzinfo=UTC),
    ),
    _entry(
        id=3,
        kind="unacknowledged",
        township="青山乡",
        responsible="duty_officer",
        incident_title="+1 山体滑坡",
        status="pending",
        finding=None,
        delay_seconds=None,
        details={},
    ),
    _entry(id=4, responsible="county_office", incident_title="-2 人受伤", status="waived", finding=None),
]


def test_csv_has_a_bom_chinese_headers_local_times_and_neutralised_formulas() -> None:
    raw = entries_csv(ENTRIES, TZ)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw  # RFC 4180 line ends
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(HEADERS)
    assert rows[0][:5] == ["编号", "类型", "认定", "状态", "乡镇"] and rows[0][-3:] == [
        "延误（分钟）",
        "详情",
        "哈希",
    ]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["编号"] == "1" and first["类型"] == "迟报" and first["认定"] == "迟报"
    assert first["状态"] == "已确认" and first["乡镇"] == "城关镇" and first["责任方"] == "城关镇"
    assert first["事件编号"] == "inc-1" and first["等级"] == "III"
    assert first["事件标题"] == "城关镇幸福路民房火灾"
    assert first["发生时间"] == "2026-04-01 00:30:00"  # 16:30 UTC on 31 March is the next day in China
    assert first["记录时间"] == "2026-04-01 00:31:05"
    assert first["延误（分钟）"] == "30"  # 1830 s rounded
    assert json.loads(first["详情"]) == {"deadline": "first_report", "说明": "首报迟到"}
    assert "说明" in first["详情"] and " " not in first["详情"]  # ensure_ascii=False, compact
    assert first["哈希"] == "a" * 64

    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["类型"] == "瞒报待核实" and second["认定"] == "瞒报"
    assert second["事件标题"] == "'" + '=HYPERLINK("http://evil","点我")'
    assert second["延误（分钟）"] == ""
    third = dict(zip(rows[0], rows[3], strict=True))
    assert third["状态"] == "待审核" and third["认定"] == "" and third["责任方"] == "值班员"
    assert third["事件标题"] == "'+1 山体滑坡" and third["详情"] == ""
    fourth = dict(zip(rows[0], rows[4], strict=True))
    assert fourth["状态"] == "已免责" and fourth["责任方"] == "县委办" and fourth["事件标题"] == "'-2 人受伤"


def test_xlsx_has_the_same_columns_real_local_datetimes_and_text_that_is_never_a_formula() -> None:
    book = openpyxl.load_workbook(io.BytesIO(entries_xlsx(ENTRIES, TZ)))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header == list(HEADERS)
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["H"].width >= 30  # 事件标题
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert len(rows) == 4
    first = dict(zip(header, rows[0], strict=True))
    assert first["编号"] == 1 and first["类型"] == "迟报" and first["延误（分钟）"] == 30
    assert first["发生时间"] == datetime(2026, 4, 1, 0, 30)  # naive local
    assert sheet.cell(row=2, column=header.index("发生时间") + 1).number_format == "yyyy-mm-dd hh:mm:ss"
    title = sheet.cell(row=3, column=header.index("事件标题") + 1)
    assert title.value == '=HYPERLINK("http://evil","点我")' and title.data_type == "s"
    second = dict(zip(header, rows[1], strict=True))
    assert second["认定"] == "瞒报" and second["延误（分钟）"] is None
    assert dict(zip(header, rows[2], strict=True))["责任方"] == "值班员"


CONTENT: dict[str, Any] = {
    "kind": "quarter",
    "period": "2026-Q1",
    "start": "2026-01-01T00:00:00+08:00",
    "end": "2026-04-01T00:00:00+08:00",
    "computed_at": "2026-04-01T01:00:00+00:00",
    "townships": [
        {
            "township": "梅林镇",
            "reports": 12,
            "urgent_reports": 3,
            "deadlines_due": 8,
            "on_time": 8,
            "on_time_rate": 1.0,
            "adopted": 2,
            "adoption_points": 4.0,
            "failures": {},
            "candidates": {"concealment_suspected": 1},
            "deductions": 0,
            "score": 104.0,
            "rank": 1,
        },
        {
            "township": "<script>alert(1)</script>镇",
            "reports": 0,
            "urgent_reports": 0,
            "deadlines_due": 0,
            "on_time": 0,
            "on_time_rate": None,
            "adopted": 0,
            "adoption_points": 0.0,
            "failures": {},
            "candidates": {},
            "deductions": 0,
            "score": 100.0,
            "rank": 2,
        },
        {
            "township": "城关镇",
            "reports": 5,
            "urgent_reports": 2,
            "deadlines_due": 4,
            "on_time": 3,
            "on_time_rate": 0.75,
            "adopted": 0,
            "adoption_points": 0.0,
            "failures": {"late_report": 1, "concealment": 1},
            "candidates": {},
            "deductions": 12,
            "score": 88.0,
            "rank": 3,
        },
    ],
    "criticisms": [
        {
            "township": "城关镇",
            "finding": "concealment",
            "entry_id": 11,
            "incident_id": "inc-9",
            "incident_title": "幸福路民房火灾",
            "occurred_at": "2026-03-31T16:30:00+00:00",
            "delay_minutes": None,
        },
        {
            "township": "城关镇",
            "finding": "late_report",
            "entry_id": 12,
            "incident_id": "inc-10",
            "incident_title": "青山路交通事故",
            "occurred_at": "2026-02-03T10:05:00+08:00",
            "delay_minutes": 45,
        },
    ],
    "scoring": {
        "base": 100.0,
        "adoption": {"county": 1.0, "city": 3.0, "province": 5.0, "national": 10.0},
        "deductions": {"late_report": 2.0, "missing_report": 5.0, "concealment": 10.0},
        "auto_confirm": [],
    },
}


def test_bulletin_html_is_titled_marked_draft_ranked_in_order_and_escaped() -> None:
    html = bulletin_html(CONTENT, published_at=None, tz=TZ)
    assert "<title>2026年第一季度紧急信息报送工作通报</title>" in html
    assert "草稿（未发布，数据可能变化）" in html and "发布时间" not in html
    assert "2026年1月1日至2026年3月31日" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;镇" in html
    ranking = html[html.index('class="ranking"') : html.index("</table>")]
    positions = [ranking.index(t) for t in ("梅林镇", "&lt;script&gt;", "城关镇")]
    assert positions == sorted(positions)
    assert "100.0%" in ranking and "75.0%" in ranking and "—" in ranking
    assert "待审核 1（瞒报待核实 1）" in ranking
    assert "瞒报 1、迟报 1" in ranking
    for header in ("排名", "乡镇", "报送条数", "紧急信息", "按时率", "采用条数", "采用得分", "扣分", "得分"):
        assert f"<th>{header}</th>" in ranking
    criticisms = html[html.index("点名批评") :]
    assert "幸福路民房火灾" in criticisms and "2026-04-01 00:30" in criticisms and "45 分钟" in criticisms
    assert "计分规则" in html and "市级采用" in html and "−10" in html
    assert "@page" in html and "table-header-group" in html


def test_bulletin_html_published_and_a_year_ranking() -> None:
    published = bulletin_html(CONTENT, published_at=datetime(2026, 4, 1, 1, 0, tzinfo=UTC), tz=TZ)
    assert "发布时间 2026-04-01 09:00" in published and "草稿" not in published
    year = {**CONTENT, "kind": "year", "period": "2026", "end": "2027-01-01T00:00:00+08:00"}
    assert "<h1>2026年度紧急信息报送工作排名</h1>" in bulletin_html(year, published_at=None, tz=TZ)


def test_bulletin_xlsx_has_a_ranking_and_a_criticism_sheet() -> None:
    book = openpyxl.load_workbook(io.BytesIO(bulletin_xlsx(CONTENT, TZ)))
    assert book.sheetnames == ["排名", "点名批评", "信息采用"]
    ranking = [[c.value for c in row] for row in book["排名"].iter_rows()]
    header = ranking[0]
    assert header[:11] == [
        "排名",
        "乡镇",
        "报送条数",
        "紧急信息",
        "应报时限",
        "按时",
        "按时率",
        "采用条数",
        "采用得分",
        "扣分",
        "得分",
    ]
    assert "瞒报" in header and "迟报" in header and "待审核（条）" in header
    rows = [dict(zip(header, row, strict=True)) for row in ranking[1:]]
    assert [r["乡镇"] for r in rows] == ["梅林镇", "<script>alert(1)</script>镇", "城关镇"]
    assert rows[0]["得分"] == 104 and rows[0]["按时率"] == 1 and rows[0]["待审核（条）"] == 1
    assert rows[1]["按时率"] is None
    assert rows[2]["扣分"] == 12 and rows[2]["按时率"] == 0.75
    assert rows[2]["瞒报"] == 1 and rows[2]["迟报"] == 1
    criticism = [[c.value for c in row] for row in book["点名批评"].iter_rows()]
    assert criticism[0][:5] == ["乡镇", "认定", "事件编号", "事件标题", "发生时间"]
    assert criticism[1][1] == "瞒报" and criticism[1][4] == datetime(2026, 4, 1, 0, 30)
    assert criticism[2][5] == 45


def test_render_table_lines_up_chinese_and_ascii_by_display_width() -> None:
    text = render_table(["乡镇", "事件", "延误"], [["城关镇", "火灾", 30], ["ABC", "fire", None]])
    lines = text.splitlines()
    assert len(lines) == 4

    def starts(line: str) -> list[int]:
        """Display columns at which each cell starts (after a gap of two spaces)."""
        columns, width, previous = [0], 0, ""
        for i, char in enumerate(line):
            if i >= 2 and previous == " " and line[i - 2] == " " and char != " ":
                columns.append(width)
            width += display_width(char)
            previous = char
        return columns

    assert display_width("城关镇") == 6 and display_width("ABC") == 3
    assert starts(lines[0])[:2] == starts(lines[2])[:2] == starts(lines[3])[:2] == [0, 8]
    header_width = display_width(lines[1])
    assert all(display_width(line) <= header_width for line in lines)
    assert lines[3].endswith("—")  # None
    assert lines[2].endswith("30") and display_width(lines[2]) == header_width  # numbers right-aligned


async def _batches(size: int) -> Any:
    for start in range(0, len(ENTRIES), size):
        yield ENTRIES[start : start + size]


async def test_the_streamed_csv_is_the_same_bytes_as_the_whole_one() -> None:
    for size in (1, 3, len(ENTRIES)):
        chunks = [chunk async for chunk in stream_csv(_batches(size), TZ)]
        assert len(chunks) == 1 + -(-len(ENTRIES) // size)  # the header, then one chunk per batch
        assert b"".join(chunks) == entries_csv(ENTRIES, TZ)


async def test_the_streamed_workbook_holds_the_same_cells_as_the_whole_one() -> None:
    def cells(data: bytes) -> list[list[object]]:
        sheet = openpyxl.load_workbook(io.BytesIO(data))["问责记录"]
        return [[c.value for c in row] for row in sheet.iter_rows()]

    streamed = b"".join([chunk async for chunk in stream_xlsx(_batches(3), TZ)])
    assert cells(streamed) == cells(entries_xlsx(ENTRIES, TZ))
    sheet = openpyxl.load_workbook(io.BytesIO(streamed))["问责记录"]
    assert sheet.auto_filter.ref == f"A1:N{len(ENTRIES) + 1}" and sheet.freeze_panes == "A2"


async def test_nothing_to_export_is_a_header_alone() -> None:
    async def none() -> Any:
        return
        yield

    assert b"".join([c async for c in stream_csv(none(), TZ)]) == entries_csv([], TZ)
    streamed = b"".join([c async for c in stream_xlsx(none(), TZ)])
    assert openpyxl.load_workbook(io.BytesIO(streamed))["问责记录"].max_row == 1
