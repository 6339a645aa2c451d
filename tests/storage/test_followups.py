"""续报跟踪 against a real database: the written, follow-up and final reports owed across townships,
overdue first, filtered by township and kind, paged (example policy, level II: written report 40 min
after the township knew, follow-ups every 2 h, the final report a day after the response ended)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import board
from alerting.domain import DeadlineKind
from alerting.policy.model import Policy
from tests.storage.test_board import NOW, _two_incidents
from tests.storage.test_rule_reports import KNOWN, MIN


def _rows(found: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(r["incident_id"], r["what"], r["overdue"]) for r in found]


async def test_owed_reports_across_townships_overdue_first(engine: AsyncEngine, policy: Policy) -> None:
    await _two_incidents(engine, policy)  # INC-C's response ended: its final report is owed
    later = KNOWN + 45 * MIN  # the written reports are 5 minutes overdue
    async with engine.connect() as conn:
        before = await board.owed_reports(conn, NOW)
        everything = await board.owed_reports(conn, later)
        meilin = await board.owed_reports(conn, later, township="梅林镇")
        finals = await board.owed_reports(conn, later, kind=DeadlineKind.FINAL_REPORT)
        second_page = await board.owed_reports(conn, later, limit=2, offset=2)
    assert not any(r["overdue"] for r in before)
    assert _rows(everything) == [
        ("INC-A", "书面报告", True),
        ("INC-B", "书面报告", True),
        ("INC-C", "书面报告", True),
        ("INC-A", "第1次续报", False),
        ("INC-B", "第1次续报", False),
        ("INC-C", "终报", False),
    ]  # INC-C's follow-ups stopped when its response ended
    assert everything[5]["township"] == "青山乡" and everything[5]["status"] == "closed"
    assert _rows(meilin) == [("INC-B", "书面报告", True), ("INC-B", "第1次续报", False)]
    assert _rows(finals) == [("INC-C", "终报", False)]
    assert _rows(second_page) == [("INC-C", "书面报告", True), ("INC-A", "第1次续报", False)]
