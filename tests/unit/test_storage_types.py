"""The SQLite bind step of UTCDateTime writes exactly the text SQLAlchemy's own DateTime would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite.base import DATETIME

from alerting.storage.schema import UTCDateTime

SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 9, 0, 0, 123, tzinfo=SHANGHAI),
        datetime(1971, 1, 1, tzinfo=UTC),
        datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(5, 1, 1, tzinfo=UTC),
    ],
)
def test_sqlite_text_matches_sqlalchemy(value: datetime) -> None:
    dialect = sqlite.dialect()
    reference = DATETIME().bind_processor(dialect)
    ours = UTCDateTime().bind_processor(dialect)
    assert ours(value) == reference(value.astimezone(UTC).replace(tzinfo=None))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().bind_processor(sqlite.dialect())(datetime(2026, 3, 2))
    assert UTCDateTime().bind_processor(sqlite.dialect())(None) is None
