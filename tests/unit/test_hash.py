import hashlib
from datetime import UTC, datetime

import pytest

from alerting.accountability.chain import GENESIS_HASH, NewEntry, entry_hash, hashed_content
from alerting.domain import EntryKind

RECORDED = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


def content(**changes: object) -> dict[str, object]:
    entry = NewEntry(
        kind=EntryKind.LATE_REPORT,
        township="城关镇",
        responsible="张三",
        occurred_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        incident_id="inc-1",
        report_id="rep-1",
        deadline_id=7,
        delay_seconds=120,
        details={"说明": "首报迟报 2 分钟"},
    )
    return {**hashed_content(entry, RECORDED, GENESIS_HASH), **changes}


def test_is_a_deterministic_sha256_hex() -> None:
    digest = entry_hash(content())
    assert digest == entry_hash(content())
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_ignores_key_order() -> None:
    original = content()
    reordered = dict(reversed(list(original.items())))
    assert list(reordered) != list(original)
    assert entry_hash(reordered) == entry_hash(original)


@pytest.mark.parametrize("key", list(content()))
def test_changes_when_any_field_changes(key: str) -> None:
    original = content()
    changed = content(**{key: "something else"})
    assert changed[key] != original[key]
    assert entry_hash(changed) != entry_hash(original)


def test_nested_details_change_the_hash() -> None:
    assert entry_hash(content(details={"说明": "首报迟报 3 分钟"})) != entry_hash(content())


def test_chinese_text_is_hashed_as_utf8_without_escapes() -> None:
    canonical = '{"a":1,"township":"城关镇"}'
    assert entry_hash({"township": "城关镇", "a": 1}) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
