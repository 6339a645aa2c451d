"""Auditors' reviews (审核) against a real database: every transition, every refusal.

A review never changes the entry it decides: it is a new `review` entry whose refers_to is the reviewed
entry's id, appended to the hash chain. An entry's status and finding come from its latest review.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.accountability.verify import verify_chain
from alerting.audit import reviews
from alerting.audit.queries import entry_detail
from alerting.audit.reviews import Review
from alerting.domain import FINDINGS_ZH, EntryKind, ReviewDecision, Role
from alerting.errors import ConflictError, NotFound
from alerting.storage.schema import accountability_entries
from tests.storage.test_chain import _assert_unbroken

AUDITOR = "纪检 王审计"
OCCURRED = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 local
REVIEWED = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

CONFIRM = Review(ReviewDecision.CONFIRM, "核实属实")
WAIVE = Review(ReviewDecision.WAIVE, "系统故障，免责")


def reclassify(to: str | None) -> Review:
    return Review(ReviewDecision.RECLASSIFY, "经核查改定性", to)


# --- helpers -------------------------------------------------------------------------------------


async def add_entry(
    engine: AsyncEngine, kind: EntryKind, township: str = "城关镇", incident_id: str | None = "inc-1"
) -> int:
    """An entry as the rules write it (the engine and intake go through the same append)."""
    async with engine.begin() as conn:
        return await append(
            conn,
            NewEntry(
                kind=kind,
                township=township,
                responsible=township,
                occurred_at=OCCURRED,
                incident_id=incident_id,
                details={"deadline": "first_report"},
            ),
            OCCURRED,
        )


async def decide(engine: AsyncEngine, entry_id: int, decision: Review, now: datetime = REVIEWED) -> int:
    async with engine.begin() as conn:
        return await reviews.review(conn, entry_id, decision, AUDITOR, now, role=Role.AUDITOR)


async def all_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        query = select(accountability_entries).order_by(accountability_entries.c.id)
        return list((await conn.execute(query)).all())


async def row(engine: AsyncEngine, entry_id: int) -> Any:
    [found] = [r for r in await all_rows(engine) if r.id == entry_id]
    return found


async def detail(engine: AsyncEngine, entry_id: int) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await entry_detail(conn, entry_id, frozenset())


async def status(engine: AsyncEngine, entry_id: int) -> tuple[str, str | None]:
    """(status, finding) as the auditors' views derive them."""
    shown = await detail(engine, entry_id)
    return shown["status"], shown["finding"]


@pytest.fixture(autouse=True)
async def _chain_verifies(engine: AsyncEngine) -> AsyncIterator[None]:
    """After every test the chain verifies: reviews only ever append to it."""
    yield
    rows = await all_rows(engine)
    if rows:
        _assert_unbroken(rows)


# --- transitions ---------------------------------------------------------------------------------


async def test_an_unreviewed_entry_is_pending(engine: AsyncEngine) -> None:
    entry_id = await add_entry(engine, EntryKind.LATE_REPORT)
    assert await status(engine, entry_id) == ("pending", None)
    assert (await detail(engine, entry_id))["reviews"] == []


async def test_pending_to_confirmed_is_a_new_review_entry(engine: AsyncEngine) -> None:
    entry_id = await add_entry(engine, EntryKind.LATE_REPORT)
    before = await row(engine, entry_id)

    review_id = await decide(engine, entry_id, Review(ReviewDecision.CONFIRM, "  核实属实  "))

    assert review_id > entry_id
    review = await row(engine, review_id)
    assert (review.kind, review.refers_to, review.responsible) == ("review", entry_id, AUDITOR)
    assert (review.township, review.incident_id) == ("城关镇", "inc-1")  # copied from the entry
    assert (review.occurred_at, review.recorded_at) == (REVIEWED, REVIEWED)
    assert review.details == {
        "decision": "confirm",
        "reason": "核实属实",  # stripped
        "reviewed_kind": "late_report",
        "status_before": "pending",
        "reviewer_role": "auditor",
    }
    assert await status(engine, entry_id) == ("confirmed", "late_report")
    assert (await row(engine, entry_id))._mapping == before._mapping  # not touched


async def test_pending_to_waived(engine: AsyncEngine) -> None:
    entry_id = await add_entry(engine, EntryKind.MISSING_REPORT)
    review_id = await decide(engine, entry_id, WAIVE)

    review = await row(engine, review_id)
    assert review.details == {
        "decision": "waive",
        "reason": "系统故障，免责",
        "reviewed_kind": "missing_report",
        "status_before": "pending",
        "reviewer_role": "auditor",
    }
    assert await status(engine, entry_id) == ("waived", None)


@pytest.mark.parametrize(
    ("kind", "to", "zh"),
    [
        (EntryKind.CONCEALMENT_SUSPECTED, "concealment", "瞒报"),
        (EntryKind.ERRONEOUS_REPORT, "false_report", "谎报"),
    ],
)
async def test_pending_to_reclassified(engine: AsyncEngine, kind: EntryKind, to: str, zh: str) -> None:
    entry_id = await add_entry(engine, kind)
    review_id = await decide(engine, entry_id, reclassify(to))

    review = await row(engine, review_id)
    assert review.details == {
        "decision": "reclassify",
        "reason": "经核查改定性",
        "reviewed_kind": kind.value,
        "status_before": "pending",
        "reviewer_role": "auditor",
        "to": to,
    }
    # A reclassified entry is confirmed, with the new finding in place of its kind.
    assert await status(engine, entry_id) == ("confirmed", to)
    assert FINDINGS_ZH[to] == zh
    assert (await row(engine, entry_id)).kind == kind.value  # the entry itself keeps its kind


async def test_confirming_suspected_concealment_finds_concealment(engine: AsyncEngine) -> None:
    entry_id = await add_entry(engine, EntryKind.CONCEALMENT_SUSPECTED)
    await decide(engine, entry_id, CONFIRM)
    assert await status(engine, entry_id) == ("confirmed", "concealment")


async def test_a_later_waiver_supersedes_a_confirmation(engine: AsyncEngine) -> None:
    entry_id = await add_entry(engine, EntryKind.LATE_REPORT)
    first = await decide(engine, entry_id, CONFIRM)
    second = await decide(engine, entry_id, WAIVE, REVIEWED + HOUR)

    assert (await row(engine, second)).details == {
        "decision": "waive",
        "reason": "系统故障，免责",
        "reviewed_kind": "late_report",
        "status_before": "confirmed",
        "reviewer_role": "auditor",
        "supersedes": first,
    }
    assert await status(engine, entry_id) == ("waived", None)
    shown = await detail(engine, entry_id)
    assert shown["latest_review_id"] == second
    assert [r["id"] for r in shown["reviews"]] == [first, second]  # oldest first
    # The first review is still there, unchanged: history is kept, not rewritten.
    assert (await row(engine, first)).details["decision"] == "confirm"


async def test_every_review_records_the_status_it_replaced(engine: AsyncEngine) -> None:
    # pending -> reclassified (confirmed) -> waived -> confirmed: the latest review wins each time.
    entry_id = await add_entry(engine, EntryKind.CONCEALMENT_SUSPECTED)
    steps = [
        (reclassify("late_report"), "pending", ("confirmed", "late_report")),
        (WAIVE, "confirmed", ("waived", None)),
        (CONFIRM, "waived", ("confirmed", "concealment")),
    ]
    previous = None
    for n, (decision, status_before, after) in enumerate(steps):
        review_id = await decide(engine, entry_id, decision, REVIEWED + n * HOUR)
        details = (await row(engine, review_id)).details
        assert details["status_before"] == status_before
        assert details.get("supersedes") == previous
        assert await status(engine, entry_id) == after
        previous = review_id
    assert len(await all_rows(engine)) == 1 + len(steps)


# --- refusals ------------------------------------------------------------------------------------


async def refused(engine: AsyncEngine, entry_id: int, decision: Review, match: str) -> None:
    """The review is refused and writes nothing."""
    count = len(await all_rows(engine))
    with pytest.raises(ConflictError, match=match):
        await decide(engine, entry_id, decision)
    assert len(await all_rows(engine)) == count


async def test_the_section_waives_and_an_auditor_later_confirms(engine: AsyncEngine) -> None:
    # The information section reviews first; an auditor's later review supersedes it. Each review
    # entry names who made it and in which role, and nothing else is written.
    entry_id = await add_entry(engine, EntryKind.MISSING_REPORT)
    async with engine.begin() as conn:
        waived = await reviews.review(conn, entry_id, WAIVE, "信息科 李四", REVIEWED, role=Role.INFO_SECTION)
    confirmed = await decide(engine, entry_id, CONFIRM, REVIEWED + HOUR)

    rows = await all_rows(engine)
    assert [r.id for r in rows] == [entry_id, waived, confirmed]
    written = [(r.kind, r.refers_to, r.responsible, r.township, r.occurred_at, r.details) for r in rows[1:]]
    assert written == [
        (
            "review",
            entry_id,
            "信息科 李四",
            "城关镇",
            REVIEWED,
            {
                "decision": "waive",
                "reason": "系统故障，免责",
                "reviewed_kind": "missing_report",
                "status_before": "pending",
                "reviewer_role": "info_section",
            },
        ),
        (
            "review",
            entry_id,
            AUDITOR,
            "城关镇",
            REVIEWED + HOUR,
            {
                "decision": "confirm",
                "reason": "核实属实",
                "reviewed_kind": "missing_report",
                "status_before": "waived",
                "reviewer_role": "auditor",
                "supersedes": waived,
            },
        ),
    ]
    assert await status(engine, entry_id) == ("confirmed", "missing_report")


@pytest.mark.parametrize("role", [Role.TOWNSHIP, Role.DUTY_OFFICER])
async def test_other_roles_may_not_review(engine: AsyncEngine, role: Role) -> None:
    entry_id = await add_entry(engine, EntryKind.LATE_REPORT)
    async with engine.begin() as conn:
        with pytest.raises(ConflictError, match=f"role {role.value} may not review entries"):
            await reviews.review(conn, entry_id, CONFIRM, "某人", REVIEWED, role=role)
    assert len(await all_rows(engine)) == 1


async def test_a_review_is_not_itself_reviewed(engine: AsyncEngine) -> None:
    entry_id = await add_entry(engine, EntryKind.LATE_REPORT)
    review_id = await decide(engine, entry_id, CONFIRM)
    for decision in (CONFIRM, WAIVE, reclassify("missing_report")):
        await refused(engine, review_id, decision, "not itself reviewed")


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
async def test_a_review_needs_a_reason(engine: AsyncEngine, reason: str) -> None:
    entry_id = await add_entry(engine, EntryKind.LATE_REPORT)
    for decision in ReviewDecision:
        to = "missing_report" if decision is ReviewDecision.RECLASSIFY else None
        await refused(engine, entry_id, Review(decision, reason, to), "needs a reason")
    assert await status(engine, entry_id) == ("pending", None)


@pytest.mark.parametrize(
    ("kind", "to"),
    [
        (EntryKind.LATE_REPORT, "concealment"),  # late_report may only become missing_report
        (EntryKind.ERRONEOUS_REPORT, "concealment"),  # erroneous_report only false_report
        (EntryKind.CONCEALMENT_SUSPECTED, "false_report"),  # concealment or late_report only
        (EntryKind.CONCEALMENT_SUSPECTED, None),  # a reclassification needs its `to`
        (EntryKind.UNACKNOWLEDGED, "late_report"),  # nothing to reclassify a county entry as
        (EntryKind.FOLLOWUP_OVERDUE, "missing_report"),
    ],
)
async def test_a_reclassification_must_be_allowed_for_the_kind(
    engine: AsyncEngine, kind: EntryKind, to: str | None
) -> None:
    entry_id = await add_entry(engine, kind)
    await refused(engine, entry_id, reclassify(to), f"{kind.value} can be reclassified as")


@pytest.mark.parametrize("decision", [ReviewDecision.CONFIRM, ReviewDecision.WAIVE])
async def test_to_is_only_for_a_reclassification(engine: AsyncEngine, decision: ReviewDecision) -> None:
    entry_id = await add_entry(engine, EntryKind.CONCEALMENT_SUSPECTED)
    await refused(
        engine, entry_id, Review(decision, "核实属实", "concealment"), "only for a reclassification"
    )


async def test_a_missing_entry_is_not_found(engine: AsyncEngine) -> None:
    await add_entry(engine, EntryKind.LATE_REPORT)
    with pytest.raises(NotFound, match="entry 999 not found"):
        await decide(engine, 999, CONFIRM)
    assert len(await all_rows(engine)) == 1


# --- the log as a whole --------------------------------------------------------------------------


async def test_reviews_only_append_and_the_chain_stays_unbroken(engine: AsyncEngine) -> None:
    late = await add_entry(engine, EntryKind.LATE_REPORT)
    suspected = await add_entry(engine, EntryKind.CONCEALMENT_SUSPECTED, "梅林镇", "inc-2")
    erroneous = await add_entry(engine, EntryKind.ERRONEOUS_REPORT, "青山乡", "inc-3")
    written = [r._mapping for r in await all_rows(engine)]

    ids = [
        await decide(engine, late, CONFIRM),
        await decide(engine, suspected, reclassify("concealment")),
        await decide(engine, erroneous, WAIVE),
        await decide(engine, late, WAIVE, REVIEWED + HOUR),
    ]

    rows = await all_rows(engine)
    assert [r._mapping for r in rows[:3]] == written  # the reviewed entries are byte-for-byte as written
    assert [r.id for r in rows[3:]] == ids
    assert [(r.kind, r.refers_to) for r in rows[3:]] == [
        ("review", late),
        ("review", suspected),
        ("review", erroneous),
        ("review", late),
    ]
    _assert_unbroken(rows)
    async with engine.connect() as conn:
        assert (await verify_chain(conn)).intact
    assert [await status(engine, i) for i in (late, suspected, erroneous)] == [
        ("waived", None),
        ("confirmed", "concealment"),
        ("waived", None),
    ]


async def _blocked_on_the_chain(engine: AsyncEngine) -> None:
    """Until another transaction waits for the chain's lock (PostgreSQL), or a moment (SQLite, where the
    second transaction cannot even begin before the first commits)."""
    if engine.dialect.name != "postgresql":
        await asyncio.sleep(0.3)
        return
    for _ in range(500):
        async with engine.connect() as conn:
            waiting = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database"
                    " WHERE d.datname = current_database() AND locktype = 'advisory' AND NOT granted"
                )
            )
            if waiting.scalar_one():
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the second review never waited for the chain")


async def test_a_review_racing_another_records_the_one_it_really_supersedes(engine: AsyncEngine) -> None:
    entry_id = await add_entry(engine, EntryKind.LATE_REPORT)
    confirmed = await decide(engine, entry_id, CONFIRM)

    # Two auditors decide at once: the first waives inside a transaction it keeps open while the
    # second one's reclassification starts.
    async with engine.connect() as first:
        await first.begin()
        waived = await reviews.review(first, entry_id, WAIVE, "审计甲", REVIEWED + HOUR, role=Role.AUDITOR)
        second = asyncio.create_task(
            decide(engine, entry_id, reclassify("missing_report"), REVIEWED + 2 * HOUR)
        )
        await _blocked_on_the_chain(engine)
        await first.commit()
    reclassified = await second

    assert confirmed < waived < reclassified
    details = (await row(engine, reclassified)).details
    assert (details["status_before"], details["supersedes"]) == ("waived", waived)
