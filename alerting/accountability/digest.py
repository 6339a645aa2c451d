"""Proving read-back entries intact, fast: candidate canonical bytes (orjson), checked against each
entry's stored hash, with the reference json.dumps encoding when they differ.

A candidate whose SHA-256 equals the stored hash is the original content (the hash is a commitment),
so a match proves the row; a row this module cannot prove is handed back, and the caller checks it
the reference way (chain.content_of, chain.entry_hash), which also says what is wrong with it. Every
field is read injectively (two different rows never give the same candidate), so nothing the
reference check would refuse is proved here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import orjson

from alerting.accountability.chain import content_of, entry_hash

SORT = orjson.OPT_SORT_KEYS
_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_COPY_CHARS = {b"\\": b"\\", b"n": b"\n", b"t": b"\t", b"r": b"\r", b"b": b"\b", b"f": b"\f", b"v": b"\v"}
# orjson reads an integer of 20 digits or more as a float (json.loads keeps it exact): such a
# float shows in its output as e+NN, and then the row goes the reference way.
_LONG_DIGITS = re.compile(rb"\d{20}").search


class Stop(NamedTuple):
    position: int  # in the batch, of the first row not proved
    entry_id: int | None  # None if its id could not be read either
    previous: str  # the hash verified just before it


class Batch(NamedTuple):
    checked: int  # rows proved, all before `stop` when there is one
    last_id: int | None  # the last row proved
    last_hash: str | None
    stop: Stop | None


class Unreadable(ValueError):
    """A COPY field with an escape COPY does not write."""


def unescape_copy(field: bytes) -> bytes:
    """A field of COPY's text format as it was before COPY escaped it."""
    if b"\\" not in field:
        return field

    def one(match: re.Match[bytes]) -> bytes:
        char = _COPY_CHARS.get(match.group(1))
        if char is None:
            raise Unreadable(match.group(0))
        return char

    return _COPY_ESCAPE.sub(one, field)


def details_fast(text: str | bytes) -> tuple[bytes, bool]:
    """The details' canonical bytes as orjson writes them, and whether these are already the
    reference encoding (when orjson cannot be trusted with them)."""
    try:
        fast = orjson.dumps(orjson.loads(text), option=SORT)
    except (orjson.JSONDecodeError, TypeError):
        return reference_details(text), True
    if b"e+" in fast and _LONG_DIGITS(text.encode() if isinstance(text, str) else text):
        return reference_details(text), True
    return fast, False


def reference_details(text: str | bytes) -> bytes:
    """What chain.entry_hash writes for details read back as SQLAlchemy reads them (json.loads)."""
    value = json.loads(text)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def proved_text(head: bytes, tail: bytes, details: str | bytes, digest: str) -> bool:
    """Whether the content around the details, with the details re-encoded, hashes to `digest`."""
    fast, exact = details_fast(details)
    if hashlib.sha256(head + fast + tail).hexdigest() == digest:
        return True
    # orjson writes some floats (1e-07) otherwise than json.dumps: the reference encoding decides.
    return not exact and hashlib.sha256(head + reference_details(details) + tail).hexdigest() == digest


# The columns check_rows reads, in this order.
ROW_COLUMNS = (
    "id",
    "hash",
    "prev_hash",
    "deadline_id",
    "delay_seconds",
    "occurred_at",
    "recorded_at",
    "refers_to",
    "incident_id",
    "kind",
    "report_id",
    "responsible",
    "township",
    "details",
)


def sqlite_time(text: Any) -> str | None:
    """isoformat() of the UTC time SQLite stores as 'YYYY-MM-DD HH:MM:SS.ffffff' (what the service
    writes); None for any other text, which goes the reference way. One text, one result."""
    if type(text) is not str or len(text) != 26 or text[10] != " " or text[19] != ".":
        return None
    clock = text[11:19] if text.endswith("000000") else text[11:]
    return f"{text[:10]}T{clock}+00:00"


def check_rows(rows: Sequence[Sequence[Any]], previous: str, anchors: Mapping[int, str]) -> Batch:
    """As check_copy, for rows as sqlite3 returns them (ROW_COLUMNS, Python values)."""
    checked = 0
    last_id: int | None = None
    for index, row in enumerate(rows):
        if not _row_proved(row, previous, anchors):
            entry_id = row[0] if type(row[0]) is int else None
            return Batch(checked, last_id, previous if checked else None, Stop(index, entry_id, previous))
        previous = row[1]
        last_id = row[0]
        checked += 1
    return Batch(checked, last_id, previous if checked else None, None)


def _row_proved(row: Sequence[Any], previous: str, anchors: Mapping[int, str]) -> bool:
    (entry_id, digest, prev, deadline, delay, occurred, recorded, refers, incident, kind, report,
     responsible, township, details) = row  # fmt: skip
    anchored = anchors.get(entry_id)
    if (anchored is not None and anchored != digest) or prev != previous or type(details) is not str:
        return False
    occurred_at, recorded_at = sqlite_time(occurred), sqlite_time(recorded)
    if occurred_at is None or recorded_at is None:
        return False
    content = {
        "deadline_id": deadline,
        "delay_seconds": delay,
        "details": None,
        "incident_id": incident,
        "kind": kind,
        "occurred_at": occurred_at,
        "prev_hash": prev,
        "recorded_at": recorded_at,
        "refers_to": refers,
        "report_id": report,
        "responsible": responsible,
        "township": township,
    }
    try:
        # The details' bytes go where orjson writes the null that stands in for them.
        head, tail = orjson.dumps(content, option=SORT).split(b'"details":null', 1)
        return proved_text(head + b'"details":', tail, details, digest)
    except (ValueError, TypeError):
        return False


def reference_problem(
    row: Any, previous: str, anchors: Mapping[int, tuple[str, str]]
) -> tuple[str, str | None, str | None] | None:
    """The reference check of one entry row as SQLAlchemy reads it: (problem, expected, found), or
    None when it verifies. In this order: a bulletin's anchor, the link, the content."""
    if row.id in anchors and anchors[row.id][0] != row.hash:
        expected, period = anchors[row.id]
        return f"differs from bulletin {period}", expected, row.hash
    if row.prev_hash != previous:
        return "link broken", previous, row.prev_hash
    try:
        recomputed: str | None = entry_hash(content_of(row))
    except (ValueError, TypeError, AttributeError):  # e.g. a kind no version of the service wrote
        recomputed = None
    if recomputed != row.hash:
        return "content changed", recomputed, row.hash
    return None
