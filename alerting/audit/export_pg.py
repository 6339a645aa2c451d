"""The entries export formatted by PostgreSQL: each batch of rows comes back as one value, the CSV
lines or the sheet's row XML already made, so the service only relays (CSV) or compresses (XLSX)
bytes. Formatting a million rows in Python took 90 s and held the GIL that the event loop answering
other requests needs; here the database's own process does it.

The cells are those of exports.entry_row, the text exactly what exports.entries_csv writes; the
tests compare the two on the same rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Float,
    Numeric,
    Select,
    Text,
    Time,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
)
from sqlalchemy import select as select_
from sqlalchemy.dialects.postgresql import aggregate_order_by

from alerting.audit.exports import RESPONSIBLE_ZH, STATUS_ZH
from alerting.audit.queries import EntryQuery, filtered_select
from alerting.audit.xlsx_stream import DATETIME, FORMULA_START, QUOTED
from alerting.domain import ENTRY_ZH, FINDINGS_ZH, EntryKind, EntryStatus, ReviewDecision
from alerting.storage.schema import accountability_entries as entries

Bounds = tuple[int, int] | None
BATCH = 5000  # rows per statement: 1-3 MB of text, a few hundred round trips for a million rows
CONTROL = "[\x01-\x08\x0b\x0c\x0e-\x1f]"  # what XML 1.0 cannot hold (text never holds NUL)
LOCAL_TIME = "YYYY-MM-DD HH24:MI:SS"
FINDING_LABELS = {**ENTRY_ZH, **{k: v for k, v in FINDINGS_ZH.items() if v}}


def _text(value: Any) -> ColumnElement[str]:
    return cast(value, Text)


def _label(value: ColumnElement[Any], labels: Mapping[str, str]) -> ColumnElement[str]:
    """The Chinese label of a code, the code itself when it has none (exports.kind_zh and the rest)."""
    return case(dict(labels), value=value, else_=value)


def _local(at: ColumnElement[Any], tz: ZoneInfo) -> ColumnElement[Any]:
    """Local wall-clock time to the second, truncated as exports.local_naive does."""
    return func.date_trunc("second", func.timezone(tz.key, at))


def _minutes(seconds: ColumnElement[Any]) -> ColumnElement[Any]:
    """Python's round(seconds / 60): to the nearest minute, halves to the even one."""
    whole = cast(func.floor(cast(seconds, Numeric) / 60), BigInteger)
    rest = seconds - whole * 60
    up = or_(rest > 30, and_(rest == 30, whole % 2 != 0))
    return whole + case((up, 1), else_=0)


def _status_and_finding(
    page: Any, auto: frozenset[str]
) -> tuple[ColumnElement[str], ColumnElement[str | None]]:
    """queries.judge in SQL: the latest review decides; unreviewed, a kind in `auto` is confirmed."""
    decision = page.c.review_decision
    confirmed = or_(
        and_(decision.is_not(None), decision != ReviewDecision.WAIVE.value),
        and_(decision.is_(None), page.c.kind.in_(sorted(auto))),
    )
    status = case(
        (decision == ReviewDecision.WAIVE.value, EntryStatus.WAIVED.value),
        (confirmed, EntryStatus.CONFIRMED.value),
        else_=EntryStatus.PENDING.value,
    )
    from_kind = case((page.c.kind == EntryKind.CONCEALMENT_SUSPECTED.value, "concealment"), else_=page.c.kind)
    finding = case((confirmed, func.coalesce(func.nullif(page.c.review_finding, ""), from_kind)))
    return status, finding


def cells(page: Any, q: EntryQuery, tz: ZoneInfo) -> list[tuple[str, ColumnElement[Any]]]:
    """exports.COLUMNS' cells as (type, value): "n" a number, "d" a local time, "s" text; NULL is
    an empty cell."""
    status, finding = _status_and_finding(page, q.auto_confirm)
    details = _text(page.c.details)
    return [
        ("n", page.c.id),
        ("s", _label(page.c.kind, ENTRY_ZH)),
        ("s", _label(finding, FINDING_LABELS)),
        ("s", _label(status, STATUS_ZH)),
        ("s", page.c.township),
        ("s", _label(page.c.responsible, RESPONSIBLE_ZH)),
        ("s", page.c.incident_id),
        ("s", page.c.incident_title),
        ("s", page.c.level),
        ("d", _local(page.c.occurred_at, tz)),
        ("d", _local(page.c.recorded_at, tz)),
        ("n", _minutes(page.c.delay_seconds)),
        ("s", case((details.in_(["{}", "null"]), None), else_=details)),  # falsy details: empty
        ("s", page.c.hash),
    ]


def _guarded(value: ColumnElement[str]) -> ColumnElement[str]:
    """A leading single quote before what a spreadsheet would take for a formula (exports.csv_text)."""
    return case((func.left(value, 1).in_(FORMULA_START), literal("'") + value), else_=value)


def _csv_field(value: ColumnElement[str]) -> ColumnElement[str]:
    """Quoted where Python's csv module (QUOTE_MINIMAL) quotes: a comma, a quote, CR or LF."""
    quoted = literal('"') + func.replace(value, '"', '""') + literal('"')
    return case((value.regexp_match('[",\r\n]'), quoted), else_=value)


def csv_line(page: Any, q: EntryQuery, tz: ZoneInfo) -> ColumnElement[str]:
    fields: list[ColumnElement[str]] = []
    for kind, value in cells(page, q, tz):
        if kind == "s":
            fields.append(_csv_field(_guarded(func.coalesce(value, ""))))
        elif kind == "d":
            fields.append(func.coalesce(func.to_char(value, LOCAL_TIME), ""))
        else:
            fields.append(func.coalesce(_text(value), ""))
    return func.concat_ws(",", *fields) + literal("\r\n")


def _xml_text(value: ColumnElement[str]) -> ColumnElement[str]:
    """saxutils.escape: ampersand, less-than and greater-than."""
    return func.replace(func.replace(func.replace(value, "&", "&amp;"), "<", "&lt;"), ">", "&gt;")


def _serial(local: ColumnElement[Any]) -> ColumnElement[Any]:
    """Excel's serial day number of a local time, in float8 as xlsx_stream.cell_xml computes it."""
    days = cast(cast(local, Date) - cast(literal("1899-12-30"), Date), Float)
    return days + cast(extract("epoch", cast(local, Time)), Float) / 86400


def _numbered(page: Any, q: EntryQuery, tz: ZoneInfo, first_row: int) -> tuple[Any, list[str]]:
    """The page with its sheet row numbers and each cell's text once (text cleaned of what XML
    cannot hold, NULL for an empty cell); the window function keeps PostgreSQL from inlining the
    cells into every place the row's XML uses them."""
    columns: list[ColumnElement[Any]] = []
    types: list[str] = []
    for kind, value in cells(page, q, tz):
        if kind == "s":
            value = func.nullif(_clean(value), "")
        elif kind == "d":
            value = _serial(value)
        columns.append(_text(value).label(f"c{len(columns)}"))
        types.append(kind)
    number = _text(func.row_number().over(order_by=page.c.id) + (first_row - 1)).label("n")
    return select_(page.c.id, number, *columns).subquery("numbered"), types


def _clean(value: ColumnElement[str]) -> ColumnElement[str]:
    """The text without control characters; tested first, as translate() cost a twentieth of a
    millisecond per row where nearly no row has any."""
    return case((value.regexp_match(CONTROL), func.regexp_replace(value, CONTROL, "", "g")), else_=value)


def _cell_xml(letter: str, kind: str, number: Any, value: Any) -> ColumnElement[str]:
    """xlsx_stream.cell_xml in SQL (text always keeps its spaces: xml:space is written on every one)."""
    ref = literal(f'<c r="{letter}') + number
    if kind == "n":
        xml = ref + literal('"><v>') + value + literal("</v></c>")
    elif kind == "d":
        xml = ref + literal(f'" s="{DATETIME}"><v>') + value + literal("</v></c>")
    else:
        quoted = case((func.left(value, 1).in_(FORMULA_START), f' s="{QUOTED}"'), else_="")
        body = literal('"') + quoted + literal(' t="inlineStr"><is><t xml:space="preserve">')
        xml = ref + body + _xml_text(value) + literal("</t></is></c>")
    return case((value.is_not(None), xml))


def xlsx_batch(
    q: EntryQuery, tz: ZoneInfo, bounds: Bounds, after: int, first_row: int, letters: list[str], limit: int
) -> Select[Any]:
    """(rows, last id, the rows' <row> elements as UTF-8 bytes), numbered from `first_row`."""
    numbered, types = _numbered(page_of(q, bounds, after, limit), q, tz, first_row)
    row_cells = [
        _cell_xml(letter, kind, numbered.c.n, numbered.c[f"c{i}"])
        for i, (letter, kind) in enumerate(zip(letters, types, strict=True))
    ]
    row = literal('<row r="') + numbered.c.n + literal('">') + func.concat(*row_cells) + literal("</row>")
    rows = func.string_agg(row, aggregate_order_by(literal(""), numbered.c.id))
    return select_(func.count(), func.max(numbered.c.id), func.convert_to(rows, "UTF8"))


def page_of(q: EntryQuery, bounds: Bounds, after: int, limit: int) -> Any:
    """The next `limit` entries of `q` after id `after`, in id order, as a subquery."""
    query, where = filtered_select(q, bounds=bounds)
    return query.where(*where, entries.c.id > after).order_by(entries.c.id).limit(limit).subquery("page")


def csv_batch(q: EntryQuery, tz: ZoneInfo, bounds: Bounds, after: int, limit: int) -> Select[Any]:
    """(rows, last id, the rows' CSV lines as UTF-8 bytes) of the next batch after id `after`."""
    page = page_of(q, bounds, after, limit)
    lines = func.string_agg(csv_line(page, q, tz), aggregate_order_by(literal(""), page.c.id))
    return select_(func.count(), func.max(page.c.id), func.convert_to(lines, "UTF8"))
