import json
from datetime import UTC, datetime
from typing import Any

import pytest

from alerting.domain import Level, Reporter, ReportType
from alerting.errors import InvalidReport, UnknownSchemaVersion
from alerting.producer_keys import ProducerKey
from consumers.codec import decode
from consumers.signing import Receipt

RECORD_MS = 1_714_553_400_000  # 2024-05-01T08:50:00Z
MAX = 64 * 1024
COUNTY_KEY = ProducerKey("county-api", "县级接口", None, b"secret")


def receipt(record_ms: int = RECORD_MS) -> Receipt:
    """A record signed by the county's own key on a topic that keeps the producer's time."""
    return Receipt(datetime.fromtimestamp(record_ms / 1000, UTC), False, COUNTY_KEY)


def message(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "report_id": "rep-1",
        "incident_id": "inc-1",
        "township": "城关镇",
        "type": "first",
        "category": "fire",
        "level": "II",
        "title": "仓库起火",
        "summary": "无人员伤亡",
        "occurred_at": "2024-05-01T16:00:00+08:00",
        "known_at": "2024-05-01T16:05:00+08:00",
        "reported_at": "2024-05-01T08:08:00Z",
        "reporter": {"name": "张三", "phone": "13800000000"},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def raw(**changes: Any) -> bytes:
    return json.dumps(message(**changes), ensure_ascii=False).encode("utf-8")


def reason(value: bytes | None, max_bytes: int = MAX) -> str:
    with pytest.raises(InvalidReport) as info:
        decode(value, receipt(), max_bytes)
    return info.value.reason


def test_decodes_a_valid_report_with_times_in_utc() -> None:
    report = decode(raw(), receipt(), MAX)
    assert (report.report_id, report.incident_id, report.township) == ("rep-1", "inc-1", "城关镇")
    assert (report.type, report.level, report.category) == (ReportType.FIRST, Level.II, "fire")
    assert (report.title, report.summary) == ("仓库起火", "无人员伤亡")
    assert report.reporter == Reporter("张三", "13800000000")
    assert report.occurred_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert report.known_at == datetime(2024, 5, 1, 8, 5, tzinfo=UTC)
    assert report.reported_at == datetime(2024, 5, 1, 8, 8, tzinfo=UTC)
    for moment in (report.occurred_at, report.known_at, report.reported_at):
        assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0


def test_missing_reported_at_falls_back_to_the_record_timestamp() -> None:
    report = decode(raw(reported_at=None), receipt(), MAX)
    assert report.reported_at == datetime(2024, 5, 1, 8, 50, tzinfo=UTC)


def test_schema_version_may_be_omitted() -> None:
    assert decode(raw(schema_version=None), receipt(), MAX).report_id == "rep-1"


def test_unknown_schema_version() -> None:
    with pytest.raises(UnknownSchemaVersion, match="schema_version 2"):
        decode(raw(schema_version=2), receipt(), MAX)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "empty message"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"report"', "not a JSON object"),
    ],
)
def test_unreadable_messages(value: bytes | None, expected: str) -> None:
    assert expected in reason(value)


def test_message_over_the_size_limit() -> None:
    value = raw(summary="x" * 2000)
    assert f"limit is {len(value) - 1}" in reason(value, max_bytes=len(value) - 1)
    assert decode(value, receipt(), len(value)).summary == "x" * 2000


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"occurred_at": "2024-05-01T16:00:00"}, ["occurred_at:", "timezone"]),
        ({"level": "V"}, ["level:"]),
        ({"known_at": "2024-05-01T15:59:00+08:00"}, ["known_at is before occurred_at"]),
        ({"reported_at": "2024-05-01T08:04:59Z"}, ["reported_at is before known_at"]),
        ({"priority": "high"}, ["priority:", "Extra"]),
        ({"reporter": {"name": "张三", "phone": "13800000000", "email": "a@b"}}, ["reporter.email:"]),
    ],
)
def test_invalid_fields_are_named(changes: dict[str, Any], expected: list[str]) -> None:
    text = reason(raw(**changes))
    for fragment in expected:
        assert fragment in text


def test_record_timestamp_before_known_at_is_rejected() -> None:
    early_ms = int(datetime(2024, 5, 1, 8, 0, tzinfo=UTC).timestamp() * 1000)
    with pytest.raises(InvalidReport, match="reported_at is before known_at"):
        decode(raw(reported_at=None), receipt(early_ms), MAX)


@pytest.mark.parametrize("value", [b"[" * 100_000, b'{"summary": ' + b"1" * 5000 + b"}"])
def test_hostile_json_is_an_invalid_report(value: bytes) -> None:
    assert reason(value, max_bytes=len(value))
