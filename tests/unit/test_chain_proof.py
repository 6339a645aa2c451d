"""The fast proof of read-back entries (alerting/accountability/digest.py) against the reference hash:
odd values (floats json.dumps writes otherwise than orjson, big integers, escapes, times
without a fraction) still prove, and any change to a row does not."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from alerting.accountability import digest, scan_pg
from alerting.accountability.chain import GENESIS_HASH, NewEntry, entry_hash, hashed_content
from alerting.domain import EntryKind
from alerting.storage.engine import json_text

RECORDED = datetime(2026, 3, 2, 1, 0, 5, 123456, tzinfo=UTC)
PLAIN = NewEntry(
    kind=EntryKind.LATE_REPORT,
    township="城关镇",
    responsible="城关镇",
    occurred_at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC),  # no fraction: isoformat() writes none
    incident_id="inc-1",
    deadline_id=7,
    delay_seconds=60,
    details={"deadline": "first_report", "说明": "首报迟报"},
)
ODD_DETAILS: dict[str, Any] = {
    "ratio": 1e-05,  # json.dumps: 1e-05, orjson: 0.00001
    "tiny": 1e-07,  # 1e-07 and 1e-7
    "huge": 2**63 + 5,  # past a signed 64-bit integer
    "big": 1e16,
    "reason": '说"明"\\ 换\n行\t\x01 e+ 12345678901234567890',
    "nested": {"b": [1, 2.5, None, -0.0], "a": True},
}
ODD = replace(PLAIN, township='镇"名\\', responsible="值班员\x07", report_id="r\n1", details=ODD_DETAILS)


def stored_hash(entry: NewEntry, prev: str = GENESIS_HASH) -> str:
    return entry_hash(hashed_content(entry, RECORDED, prev))


def sqlite_row(entry: NewEntry, prev: str = GENESIS_HASH, **changes: Any) -> tuple[Any, ...]:
    """The row as sqlite3 returns it (digest.ROW_COLUMNS): times as SQLite keeps them, the details
    as the engine writes a JSON column (orjson)."""
    values: dict[str, Any] = {
        "id": 1,
        "hash": stored_hash(entry, prev),
        "prev_hash": prev,
        "deadline_id": entry.deadline_id,
        "delay_seconds": entry.delay_seconds,
        "occurred_at": entry.occurred_at.isoformat(" ", "microseconds")[:26],
        "recorded_at": RECORDED.isoformat(" ", "microseconds")[:26],
        "refers_to": entry.refers_to,
        "incident_id": entry.incident_id,
        "kind": entry.kind.value,
        "report_id": entry.report_id,
        "responsible": entry.responsible,
        "township": entry.township,
        "details": json_text(entry.details),
    }
    values.update(changes)
    return tuple(values[column] for column in digest.ROW_COLUMNS)


def copy_line(entry: NewEntry, prev: str = GENESIS_HASH, **changes: Any) -> bytes:
    """A line PostgreSQL's COPY writes for scan_pg.segment_query, of a row the database did not prove
    (details stored otherwise than json_text writes them now): the second of its segment, linked to
    `prev`; the content around the details written as json.dumps writes it, escaped as COPY does."""
    content = hashed_content(entry, RECORDED, prev)
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    details = json.dumps(content["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    head, tail = text.split(details, 1)
    fields = {
        "n": "2",
        "id": "1",
        "hash": stored_hash(entry, prev),
        "prev_hash": prev,
        "before": prev,
        "before_id": "0",
        "proved": "f",
        "head": head,
        "tail": tail,
        "details": orjson.dumps(entry.details).decode(),  # keys unsorted, as before json_text sorted them
        **changes,
    }

    def escaped(value: str) -> bytes:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").encode()

    return b"\t".join(escaped(v) for v in fields.values())


def copy_proved(line: bytes, anchors: dict[bytes, bytes] | None = None) -> bool:
    judged = scan_pg.judge(line + b"\n", anchors or {})
    assert judged.first == judged.last and judged.first is not None
    return judged.stop is None


@pytest.mark.parametrize("entry", [PLAIN, ODD], ids=["plain", "odd"])
def test_an_entry_as_written_is_proved_both_ways(entry: NewEntry) -> None:
    digest_of = stored_hash(entry)
    assert digest.check_rows([sqlite_row(entry)], GENESIS_HASH, {}) == digest.Batch(1, 1, digest_of, None)
    assert copy_proved(copy_line(entry))


def test_the_odd_details_are_those_orjson_writes_otherwise() -> None:
    # What the fallback is for: orjson's bytes alone would not prove this entry.
    assert orjson.dumps(1e-07) != json.dumps(1e-07).encode()
    fast, exact = digest.details_fast(json_text({"tiny": 1e-07}))
    assert (fast, exact) == (b'{"tiny":1e-7}', False)
    assert digest.reference_details(fast) == b'{"tiny":1e-07}'
    # An integer of 20 digits, which orjson would read as a float, goes the reference way at once.
    assert digest.details_fast('{"n":18446744073709551616}') == (b'{"n":18446744073709551616}', True)


def _stopped(batch: digest.Batch, previous: str = GENESIS_HASH) -> bool:
    return batch == digest.Batch(0, None, None, digest.Stop(0, 1, previous))


@pytest.mark.parametrize(
    "change",
    [
        {"details": json_text({**ODD_DETAILS, "tiny": 1e-06})},
        {"details": json_text({**ODD_DETAILS, "huge": 2**63 + 6})},
        {"township": "城关镇"},
        {"responsible": "值班员"},
        {"delay_seconds": 61},
        {"deadline_id": "7"},  # SQLite keeps a text where an integer was
        {"refers_to": 3},
        {"kind": "missing_report"},
        {"occurred_at": "2026-03-02 01:00:00.000001"},
        {"occurred_at": "2026-03-02T01:00:00.000000"},  # another text for the same time
        {"recorded_at": "2026-03-02 01:00:05.123457"},
        {"hash": "f" * 64},
    ],
)
def test_any_change_to_a_sqlite_row_is_not_proved(change: dict[str, Any]) -> None:
    assert _stopped(digest.check_rows([sqlite_row(ODD, **change)], GENESIS_HASH, {}))


def test_a_float_rewritten_as_a_long_integer_is_not_proved() -> None:
    # orjson reads 18446744073709551616 as the float 2.0**64, which writes as the original did;
    # json.loads reads an integer, so the reference check refuses it, and so must the fast one.
    entry = replace(PLAIN, details={"huge": float(2**64)})
    text = json_text(entry.details)
    assert orjson.loads(text.replace("1.8446744073709552e+19", str(2**64))) == entry.details
    rewritten = text.replace("1.8446744073709552e+19", str(2**64))
    assert _stopped(digest.check_rows([sqlite_row(entry, details=rewritten)], GENESIS_HASH, {}))
    assert not copy_proved(copy_line(entry, details=rewritten))
    assert digest.check_rows([sqlite_row(entry)], GENESIS_HASH, {}).checked == 1


def test_a_link_to_another_hash_or_a_bulletin_that_differs_is_not_proved() -> None:
    row = sqlite_row(PLAIN)
    assert _stopped(digest.check_rows([row], "e" * 64, {}), "e" * 64)
    assert _stopped(digest.check_rows([row], GENESIS_HASH, {1: "a" * 64}))
    assert digest.check_rows([row], GENESIS_HASH, {1: row[1]}).checked == 1
    assert not copy_proved(copy_line(PLAIN, before="e" * 64))
    assert not copy_proved(copy_line(PLAIN), {b"1": b"a" * 64})
    assert copy_proved(copy_line(PLAIN), {b"1": stored_hash(PLAIN).encode()})
    # The first row of a segment: its link is the caller's to check (with the segment before).
    assert copy_proved(copy_line(PLAIN, n="1", before="", before_id=""))


@pytest.mark.parametrize(
    "change",
    [
        {"details": json_text({**ODD_DETAILS, "ratio": 1e-04})},
        {"details": json_text({**ODD_DETAILS, "reason": "改过"})},
        {"tail": hashed_content(ODD, RECORDED, GENESIS_HASH)["kind"]},
        {"head": '{"deadline_id":8,"delay_seconds":60,"details":'},
        {"hash": "f" * 64},
        {"prev_hash": "0" * 63 + "1"},
    ],
)
def test_any_change_to_a_copy_line_is_not_proved(change: dict[str, Any]) -> None:
    assert not copy_proved(copy_line(ODD, **change))


def test_a_batch_stops_at_the_first_row_not_proved_and_says_where() -> None:
    first = sqlite_row(PLAIN)
    second_entry = replace(PLAIN, incident_id="inc-2")
    second = (2, *sqlite_row(second_entry, first[1])[1:])
    third = (3, *sqlite_row(replace(PLAIN, incident_id="inc-3"), second[1], delay_seconds=1)[1:])
    batch = digest.check_rows([first, second, third], GENESIS_HASH, {})
    assert batch == digest.Batch(2, 2, second[1], digest.Stop(2, 3, second[1]))


def test_only_the_time_text_the_service_writes_is_read_as_a_time() -> None:
    assert digest.sqlite_time("2026-03-02 01:00:00.000000") == "2026-03-02T01:00:00+00:00"
    assert digest.sqlite_time("2026-03-02 01:00:00.000100") == "2026-03-02T01:00:00.000100+00:00"
    for other in ("2026-03-02T01:00:00.000000", "2026-03-02 01:00:00", "2026-03-02 01:00:00.0001", None, 5):
        assert digest.sqlite_time(other) is None


def test_rows_the_database_proved_are_checked_for_their_link_and_anchor_only() -> None:
    proved = {"proved": "t", "head": "", "tail": "", "details": ""}
    assert copy_proved(copy_line(PLAIN, **proved))
    assert not copy_proved(copy_line(PLAIN, **proved, before="e" * 64))
    assert not copy_proved(copy_line(PLAIN, **proved), {b"1": b"a" * 64})


def test_a_segment_stops_at_its_first_row_not_proved_and_names_the_row_before() -> None:
    proved = {"proved": "t", "head": "", "tail": "", "details": ""}
    lines = [
        copy_line(PLAIN, n="1", id="11", before="", before_id="", **proved),
        copy_line(PLAIN, n="2", id="12", before=GENESIS_HASH, before_id="11", **proved),
        copy_line(
            PLAIN,
            n="3",
            id="14",
            before=GENESIS_HASH,
            before_id="12",
            head='{"deadline_id":7,"delay_seconds":5,"details":',
        ),
        copy_line(PLAIN, n="4", id="15", before="f" * 64, before_id="14", **proved),
    ]
    first, last, stop = scan_pg.judge(b"\n".join(lines) + b"\n", {})
    assert first is not None and (first.n, first.entry_id, first.before_id) == (1, 11, None)
    assert last is not None and (last.n, last.entry_id) == (4, 15)
    assert stop is not None and (stop.n, stop.entry_id, stop.before_id, stop.before) == (
        3,
        14,
        12,
        GENESIS_HASH,
    )
