"""Quarterly bulletins (一季一通报) against a real database: one quarter checked by hand, the quarter's
local boundaries, and publishing (frozen once published, published once).

The data set is built only through the product's own functions: reports through intake, missed
deadlines through the firing engine, an incident registered by the county, auditors' reviews and the
information section's adoptions. Policy: deploy/policy.example.toml, Asia/Shanghai (UTC+8); default
scoring (base 100; adoption county 1, city 3, province 5; deductions late 2, missing 5, concealment 10).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.audit import bulletins, reviews
from alerting.audit.bulletins import parse_period, previous
from alerting.audit.render import bulletin_html, bulletin_xlsx
from alerting.audit.reviews import Review
from alerting.county import actions, assignments, items
from alerting.county.actions import Registration
from alerting.county.assignments import NewAssignment
from alerting.domain import EntryKind, ItemDecision, Level, ReportType, ReviewDecision, Role
from alerting.errors import ConflictError, NotFound
from alerting.policy.calendar import Period
from alerting.policy.model import Policy
from tests.storage.test_rule_reports import MIN, entries, fire, report, routine_item, store, utc

A, B, C = "城关镇", "梅林镇", "青山乡"
SHANGHAI = "Asia/Shanghai"
HOUR = timedelta(hours=1)
MICRO = timedelta(microseconds=1)
SECOND = timedelta(seconds=1)
AUDITOR = "纪检 王审计"
INFO = "信息科"
IV = Level.IV  # first report 30m, written report 2h, ack 30m, forward_written 2h, follow-up 08:00 daily

Q1 = "2026-Q1"
Q1_START = utc(2025, 12, 31, 16)  # 2026-01-01 00:00 local
Q1_END = utc(2026, 3, 31, 16)  # 2026-04-01 00:00 local
AFTER_Q1 = Q1_END + 5 * MIN  # 2026-04-01 00:05 local


def local(at: datetime, policy: Policy) -> str:
    return at.astimezone(policy.tz).isoformat()


async def decide(engine: AsyncEngine, entry_id: int, decision: ReviewDecision, to: str | None = None) -> None:
    async with engine.begin() as conn:
        await reviews.review(
            conn, entry_id, Review(decision, "经核查", to), AUDITOR, utc(2026, 3, 20, 2), role=Role.AUDITOR
        )


async def adopt(engine: AsyncEngine, report_id: str, level: str, at: datetime) -> None:
    async with engine.begin() as conn:
        await bulletins.adopt(conn, report_id, level, INFO, "被采用", at)


async def compute(engine: AsyncEngine, policy: Policy, key: str, now: datetime) -> dict[str, Any]:
    kind, period = parse_period(key, policy.tz)
    async with engine.connect() as conn:
        return await bulletins.compute(conn, policy, kind, period, now)


def township(content: dict[str, Any], name: str) -> dict[str, Any]:
    [row] = [r for r in content["townships"] if r["township"] == name]
    return row


async def one_entry(engine: AsyncEngine, kind: EntryKind, incident_id: str) -> Any:
    [entry] = await entries(engine, kind, incident_id=incident_id)
    return entry


# --- the hand-checked quarter --------------------------------------------------------------------
#
# All incidents are level IV, all in March 2026 (UTC below; local = UTC+8). Every incident that the
# township reports ends with a final report three hours in, which cancels its 08:00 follow-up slot
# (cancelled deadlines are not counted), so the deadlines that count are first and written reports
# and the concealment check.
#
# 城关镇 A1  known 03-02 01:00  first 01:10 (due 01:30, on time)  written 02:00 (due 03:00, on time)
#                                final 04:00. First report adopted by the city on 03-10 (+3).
# 梅林镇 B1  known 03-02 02:00  first 02:10 on time (place 工业园); correction 02:30 changes the place
#                                -> erroneous_report, left pending; written 04:05 (due 04:00) -> late
#                                by 5m, waived; final 05:00. First report adopted by the county (+1).
# 城关镇 A2  known 03-03 01:00  first 01:40 (due 01:30) -> late by 10m, confirmed; written 02:00 on
#                                time; final 04:00. First report adopted by the province on 04-02 (Q2).
# 青山乡 C1  known 03-04 01:00  first 01:10 on time; nothing written: at 03:00 the written report
#                                fires -> missing_report, confirmed; final 04:00.
# 青山乡 C2  registered by the county 03-05 01:00 (learned elsewhere); the township never reports:
#                                at 01:30 the concealment check fires -> concealment_suspected,
#                                confirmed -> finding concealment (瞒报).
# County side: nobody signs for anything, so each reported incident gets an unacknowledged entry
# (duty_officer) and a forward_overdue entry (county_office); one is even confirmed. They are the
# county's failures and never count against a township.


async def build_quarter(engine: AsyncEngine, policy: Policy) -> dict[str, Any]:
    """The data set above; returns the reports and entries the assertions name."""
    a1, b1, a2, c1 = utc(2026, 3, 2, 1), utc(2026, 3, 2, 2), utc(2026, 3, 3, 1), utc(2026, 3, 4, 1)

    def at(incident: str, town: str, known: datetime, minutes: int, type_: ReportType, **facts: Any) -> Any:
        return report(
            incident,
            type_,
            level=IV,
            township=town,
            known_at=known,
            reported_at=known + minutes * MIN,
            **facts,
        )

    made = {
        "a1_first": at("inc-A1", A, a1, 10, ReportType.FIRST),
        "a1_written": at("inc-A1", A, a1, 60, ReportType.WRITTEN),
        "a1_final": at("inc-A1", A, a1, 180, ReportType.FINAL),
        "b1_first": at("inc-B1", B, b1, 10, ReportType.FIRST, place="梅林镇工业园"),
        "b1_correction": at("inc-B1", B, b1, 30, ReportType.CORRECTION, place="梅林镇东街"),
        "b1_written": at("inc-B1", B, b1, 125, ReportType.WRITTEN),
        "b1_final": at("inc-B1", B, b1, 180, ReportType.FINAL),
        "a2_first": at("inc-A2", A, a2, 40, ReportType.FIRST),
        "a2_written": at("inc-A2", A, a2, 60, ReportType.WRITTEN),
        "a2_final": at("inc-A2", A, a2, 180, ReportType.FINAL),
        "c1_first": at("inc-C1", C, c1, 10, ReportType.FIRST),
    }
    for item in sorted(made.values(), key=lambda r: r.reported_at):  # as they arrive
        await store(engine, policy, item)
    await fire(engine, policy, c1 + 2 * HOUR)  # C1's written report is due and missing
    made["c1_final"] = at("inc-C1", C, c1, 180, ReportType.FINAL)
    await store(engine, policy, made["c1_final"])

    learned = utc(2026, 3, 5, 1)
    async with engine.begin() as conn:
        registration = Registration(
            "inc-C2", C, IV, "安全生产", "青山乡某矿山透水", "群众来电反映", "hotline", None, learned
        )
        await actions.register(conn, registration, "值班员李四", policy, learned)
    await fire(engine, policy, learned + 30 * MIN)  # the concealment check falls due

    # Reviews: confirm A2's late first report, C1's missing written report and C2's suspicion;
    # waive B1's late written report; leave B1's erroneous report pending; confirm a county entry.
    late_a2 = await one_entry(engine, EntryKind.LATE_REPORT, "inc-A2")
    await decide(engine, late_a2.id, ReviewDecision.CONFIRM)
    await decide(engine, (await one_entry(engine, EntryKind.LATE_REPORT, "inc-B1")).id, ReviewDecision.WAIVE)
    missing_c1 = await one_entry(engine, EntryKind.MISSING_REPORT, "inc-C1")
    await decide(engine, missing_c1.id, ReviewDecision.CONFIRM)
    suspected_c2 = await one_entry(engine, EntryKind.CONCEALMENT_SUSPECTED, "inc-C2")
    await decide(engine, suspected_c2.id, ReviewDecision.CONFIRM)
    unacked_a1 = await one_entry(engine, EntryKind.UNACKNOWLEDGED, "inc-A1")
    await decide(engine, unacked_a1.id, ReviewDecision.CONFIRM)

    await adopt(engine, made["a1_first"].report_id, "city", utc(2026, 3, 10, 2))
    await adopt(engine, made["b1_first"].report_id, "county", utc(2026, 3, 10, 2))
    await adopt(engine, made["a2_first"].report_id, "province", utc(2026, 4, 2, 2))  # Q2
    return {
        "reports": made,
        "late_a2": late_a2,
        "missing_c1": missing_c1,
        "suspected_c2": suspected_c2,
        "registration": registration,
    }


async def test_the_entries_are_what_the_hand_computation_assumes(engine: AsyncEngine, policy: Policy) -> None:
    await build_quarter(engine, policy)
    found = {(e.incident_id, e.kind, e.responsible, e.delay_seconds) for e in await entries(engine)}
    township_side = {f for f in found if f[1] != "review" and f[2] in (A, B, C)}
    assert township_side == {
        ("inc-A2", "late_report", A, 600),
        ("inc-B1", "erroneous_report", B, None),
        ("inc-B1", "late_report", B, 300),
        ("inc-C1", "missing_report", C, None),
        ("inc-C2", "concealment_suspected", C, None),
    }
    county_side = {(f[0], f[1], f[2]) for f in found if f[2] in ("duty_officer", "county_office")}
    assert county_side == {
        (incident, kind, who)
        for incident in ("inc-A1", "inc-A2", "inc-B1", "inc-C1")
        for kind, who in (("unacknowledged", "duty_officer"), ("forward_overdue", "county_office"))
    }


async def test_a_hand_checked_quarter(engine: AsyncEngine, policy: Policy) -> None:
    data = await build_quarter(engine, policy)
    now = utc(2026, 4, 3, 2)
    content = await compute(engine, policy, Q1, now)

    assert (content["kind"], content["period"]) == ("quarter", Q1)
    assert (content["start"], content["end"]) == ("2026-01-01T00:00:00+08:00", "2026-04-01T00:00:00+08:00")
    assert content["computed_at"] == now.isoformat()
    assert content["scoring"] == policy.scoring.model_dump(mode="json")
    assert content["townships"] == [
        {
            # A1 first, written, final + A2 first, written, final = 6 reports, 2 of them first reports.
            # Deadlines: A1 first ✓, A1 written ✓, A2 first ✗ (late), A2 written ✓ -> 3 of 4 = 0.75.
            # Adopted: A1 by the city (3); A2's province adoption is dated 04-02, in Q2.
            # Confirmed: A2's late first report (-2). Score 100 + 3 - 2 = 101.
            "township": A,
            "reports": 6,
            "urgent_reports": 2,
            "deadlines_due": 4,
            "on_time": 3,
            "on_time_rate": 0.75,
            "adopted": 1,
            "adoption_points": 3,
            "routine_items": 0,
            "items_adopted_by_level": {},
            "items_returned": 0,
            "assignments_due": 0,
            "assignments_on_time": 0,
            "network_inspection": None,  # never inspected
            "officer_vacancy_days": None,  # no officer term registered
            "failures": {"late_report": 1},
            "candidates": {},
            "deductions": 2,
            "score": 101,
            "rank": 1,
        },
        {
            # B1 first, correction, written, final = 4 reports, 1 first report.
            # Deadlines: first ✓, written ✗ (5m late) -> 1 of 2 = 0.5. Adopted by the county (1).
            # The late written report was waived; the erroneous report is a pending candidate, shown
            # but not deducted. Score 100 + 1 - 0 = 101: tied with 城关镇, both ranked 1.
            "township": B,
            "reports": 4,
            "urgent_reports": 1,
            "deadlines_due": 2,
            "on_time": 1,
            "on_time_rate": 0.5,
            "adopted": 1,
            "adoption_points": 1,
            "routine_items": 0,
            "items_adopted_by_level": {},
            "items_returned": 0,
            "assignments_due": 0,
            "assignments_on_time": 0,
            "network_inspection": None,  # never inspected
            "officer_vacancy_days": None,  # no officer term registered
            "failures": {},
            "candidates": {"erroneous_report": 1},
            "deductions": 0,
            "score": 101,
            "rank": 1,
        },
        {
            # C1 first, final = 2 reports, 1 first report (C2 was registered by the county).
            # Deadlines: C1 first ✓, C1 written ✗ (never came), C2 concealment check ✗ -> 1 of 3.
            # Confirmed: missing report (-5), concealment (-10). Score 100 - 15 = 85, rank 3 (1, 1, 3).
            "township": C,
            "reports": 2,
            "urgent_reports": 1,
            "deadlines_due": 3,
            "on_time": 1,
            "on_time_rate": 0.3333,
            "adopted": 0,
            "adoption_points": 0,
            "routine_items": 0,
            "items_adopted_by_level": {},
            "items_returned": 0,
            "assignments_due": 0,
            "assignments_on_time": 0,
            "network_inspection": None,  # never inspected
            "officer_vacancy_days": None,  # no officer term registered
            "failures": {"concealment": 1, "missing_report": 1},
            "candidates": {},
            "deductions": 15,
            "score": 85,
            "rank": 3,
        },
    ]
    # 点名批评: confirmed late, missing and concealment findings only, by township then time.
    assert content["criticisms"] == [
        {
            "township": A,
            "finding": "late_report",
            "entry_id": data["late_a2"].id,
            "incident_id": "inc-A2",
            "incident_title": data["reports"]["a2_first"].title,
            "occurred_at": "2026-03-03T09:40:00+08:00",  # when the late report arrived
            "delay_minutes": 10,
        },
        {
            "township": C,
            "finding": "missing_report",
            "entry_id": data["missing_c1"].id,
            "incident_id": "inc-C1",
            "incident_title": data["reports"]["c1_first"].title,
            "occurred_at": "2026-03-04T11:00:00+08:00",  # when the written report fell due
            "delay_minutes": None,
        },
        {
            "township": C,
            "finding": "concealment",
            "entry_id": data["suspected_c2"].id,
            "incident_id": "inc-C2",
            "incident_title": "青山乡某矿山透水",
            "occurred_at": "2026-03-05T09:30:00+08:00",
            "delay_minutes": None,
        },
    ]


async def test_the_year_ranking_includes_the_april_adoption(engine: AsyncEngine, policy: Policy) -> None:
    await build_quarter(engine, policy)
    content = await compute(engine, policy, "2026", utc(2026, 4, 3, 2))
    # 城关镇 adds A2's province adoption (+5): 100 + 3 + 5 - 2 = 106 and ranks alone at the top.
    assert [(r["township"], r["adoption_points"], r["score"], r["rank"]) for r in content["townships"]] == [
        (A, 8, 106, 1),
        (B, 1, 101, 2),
        (C, 0, 85, 3),
    ]
    assert (content["kind"], content["period"], content["start"]) == (
        "year",
        "2026",
        "2026-01-01T00:00:00+08:00",
    )


async def test_candidates_become_failures_once_confirmed(engine: AsyncEngine, policy: Policy) -> None:
    await build_quarter(engine, policy)
    erroneous = await one_entry(engine, EntryKind.ERRONEOUS_REPORT, "inc-B1")
    await decide(engine, erroneous.id, ReviewDecision.RECLASSIFY, "false_report")  # 谎报, -10

    content = await compute(engine, policy, Q1, AFTER_Q1)
    b = township(content, B)
    assert (b["failures"], b["candidates"], b["deductions"], b["score"]) == ({"false_report": 1}, {}, 10, 91)
    assert [(r["township"], r["rank"]) for r in content["townships"]] == [(A, 1), (B, 2), (C, 3)]
    assert "false_report" not in {c["finding"] for c in content["criticisms"]}  # not a 点名 finding


async def test_auto_confirmed_kinds_count_unless_waived(engine: AsyncEngine, policy: Policy) -> None:
    await build_quarter(engine, policy)
    scoring = policy.scoring.model_copy(
        update={"auto_confirm": (EntryKind.ERRONEOUS_REPORT, EntryKind.LATE_REPORT, EntryKind.UNACKNOWLEDGED)}
    )
    auto = policy.model_copy(update={"scoring": scoring})

    content = await compute(engine, auto, Q1, AFTER_Q1)
    # B1's erroneous report now counts without a review (-2); its late written report stays waived;
    # the unacknowledged entries are the duty officer's and still count against nobody.
    b = township(content, B)
    assert (b["failures"], b["candidates"], b["deductions"], b["score"]) == (
        {"erroneous_report": 1},
        {},
        2,
        99,
    )
    assert township(content, A)["failures"] == {"late_report": 1}
    assert [(r["township"], r["score"], r["rank"]) for r in content["townships"]] == [
        (A, 101, 1),
        (B, 99, 2),
        (C, 85, 3),
    ]
    assert content["scoring"]["auto_confirm"] == ["erroneous_report", "late_report", "unacknowledged"]


async def test_adoptions_count_once_per_level(engine: AsyncEngine, policy: Policy) -> None:
    first = report("inc-1", level=IV, known_at=utc(2026, 3, 2, 1))
    await store(engine, policy, first)
    await adopt(engine, first.report_id, "county", utc(2026, 3, 3, 1))
    await adopt(engine, first.report_id, "national", utc(2026, 3, 4, 1))
    with pytest.raises(ConflictError, match="already marked adopted"):
        await adopt(engine, first.report_id, "county", utc(2026, 3, 5, 1))
    with pytest.raises(NotFound):
        await adopt(engine, "no-such-report", "county", utc(2026, 3, 5, 1))

    a = township(await compute(engine, policy, Q1, AFTER_Q1), A)
    assert (a["adopted"], a["adoption_points"], a["score"]) == (2, 11, 111)  # 1 + 10


async def test_the_whole_work_counts_routine_items_adopted_where_and_assignments(
    engine: AsyncEngine, policy: Policy
) -> None:
    """A's items: one adopted by the city into 《XX信息》 after a return, one filed; B's: one adopted by
    the county. An assignment due in Q1: A answered on time, B never."""
    given = utc(2026, 3, 2, 2)
    async with engine.begin() as conn:
        made = await assignments.create(
            conn, NewAssignment("春耕", "", utc(2026, 3, 10, 16), (A, B)), policy, INFO, given
        )
    first = replace(routine_item(A, given + HOUR, category="工作动态"), assignment_id=made["id"])
    filed = routine_item(A, given + 2 * HOUR, category="社情民意")
    other = routine_item(B, given + 3 * HOUR, category="经验做法")
    for item in (first, filed, other):
        await store(engine, policy, item)
    tz = policy.tz
    async with engine.begin() as conn:
        await items.decide(
            conn,
            first.item_id,
            items.Decision(ItemDecision.RETURN, 1, reason="补充"),
            INFO,
            tz,
            given + 4 * HOUR,
        )
    await store(
        engine, policy, replace(routine_item(A, given + 5 * HOUR, category="工作动态"), item_id=first.item_id)
    )
    city = items.Decision(ItemDecision.ADOPT, 2, level="city", publication="《XX信息》", issue="2026年第12期")
    async with engine.begin() as conn:
        await items.decide(conn, first.item_id, city, INFO, tz, given + 6 * HOUR)
        await items.decide(
            conn, filed.item_id, items.Decision(ItemDecision.FILE, 1), INFO, tz, given + 6 * HOUR
        )
        await items.decide(
            conn,
            other.item_id,
            items.Decision(ItemDecision.ADOPT, 1, level="county"),
            INFO,
            tz,
            given + 7 * HOUR,
        )
    await fire(engine, policy, utc(2026, 3, 10, 16))  # B's assignment_overdue

    content = await compute(engine, policy, Q1, AFTER_Q1)
    work = {
        r["township"]: (
            r["routine_items"],
            r["items_adopted_by_level"],
            r["items_returned"],
            r["assignments_due"],
            r["assignments_on_time"],
            r["adopted"],
            r["adoption_points"],
        )
        for r in content["townships"]
    }
    assert work == {
        A: (2, {"city": 1}, 1, 1, 1, 1, 3),
        B: (1, {"county": 1}, 0, 1, 0, 1, 1),
        C: (0, {}, 0, 0, 0, 0, 0),
    }
    assert [
        (i["township"], i["title"], i["level"], i["publication"], i["issue"])
        for i in content["adopted_items"]
    ] == [
        (A, first.title, "city", "《XX信息》", "2026年第12期"),
        (B, other.title, "county", None, None),
    ]
    page = bulletin_html(content, published_at=None, tz=policy.tz)
    assert "三、信息采用情况" in page and "市级采用" in page and "《XX信息》2026年第12期" in page
    sheet = openpyxl.load_workbook(io.BytesIO(bulletin_xlsx(content, policy.tz)))["信息采用"]
    assert [[c.value for c in row][:6] for row in sheet.iter_rows(min_row=2)] == [
        [A, first.title, "工作动态", "市级采用", "《XX信息》", "2026年第12期"],
        [B, other.title, "经验做法", "县级采用", None, None],
    ]
    # Unreviewed, B's miss is a candidate: shown, not yet deducted.
    assert (township(content, B)["candidates"], township(content, B)["score"]) == (
        {"assignment_overdue": 1},
        101,
    )


async def test_a_quiet_quarter_ranks_every_township_at_the_base(engine: AsyncEngine, policy: Policy) -> None:
    content = await compute(engine, policy, Q1, AFTER_Q1)
    assert [
        (r["township"], r["reports"], r["on_time_rate"], r["score"], r["rank"]) for r in content["townships"]
    ] == [
        (A, 0, None, 100, 1),
        (B, 0, None, 100, 1),
        (C, 0, None, 100, 1),
    ]
    assert content["criticisms"] == []


# --- quarter boundaries --------------------------------------------------------------------------


def test_parse_period_gives_local_bounds_in_utc(policy: Policy) -> None:
    assert parse_period(Q1, policy.tz) == ("quarter", Period(Q1, Q1_START, Q1_END))
    kind, q4 = parse_period("2025-Q4", policy.tz)
    assert (kind, q4.start, q4.end) == ("quarter", utc(2025, 9, 30, 16), Q1_START)
    kind, year = parse_period("2026", policy.tz)
    assert (kind, year.key, year.start, year.end) == ("year", "2026", Q1_START, utc(2026, 12, 31, 16))
    for bad in ("2026-Q5", "2026-Q0", "26-Q1", "2026-03", "2026Q1", ""):
        with pytest.raises(ValueError, match="is not a period"):
            parse_period(bad, policy.tz)


def test_previous_period_is_the_one_that_ended_last(policy: Policy) -> None:
    just_after_q1 = utc(2026, 3, 31, 16, 5)  # 2026-04-01 00:05 local
    assert previous("quarter", just_after_q1, policy.tz) == Period(Q1, Q1_START, Q1_END)
    # Still 31 March locally (15:59Z is 23:59 local): Q4 of 2025 is the last one ended.
    assert previous("quarter", utc(2026, 3, 31, 15, 59), policy.tz).key == "2025-Q4"

    new_year = utc(2025, 12, 31, 16, 10)  # 2026-01-01 00:10 local, still 2025 in UTC
    last_year = previous("year", new_year, policy.tz)
    assert (last_year.key, last_year.start, last_year.end) == ("2025", utc(2024, 12, 31, 16), Q1_START)
    assert previous("quarter", new_year, policy.tz).key == "2025-Q4"


async def test_a_report_at_local_midnight_belongs_to_the_new_quarter(
    engine: AsyncEngine, policy: Policy
) -> None:
    last_second = Q1_END - SECOND  # 2026-03-31T15:59:59Z = 23:59:59 local on 31 March
    for incident, at in (("inc-q1", last_second), ("inc-q2", Q1_END)):
        await store(engine, policy, report(incident, level=IV, known_at=at - MIN, reported_at=at))

    q1 = township(await compute(engine, policy, Q1, utc(2026, 7, 1)), A)
    q2 = township(await compute(engine, policy, "2026-Q2", utc(2026, 7, 1)), A)
    assert (q1["reports"], q1["urgent_reports"]) == (1, 1)
    assert (q2["reports"], q2["urgent_reports"]) == (1, 1)
    # Each incident's deadlines (first report 29m after its report, met; written report 2h after
    # known_at and the 08:00 follow-up, both still owed) all fall in Q2: 6 due, 2 on time.
    assert (q1["deadlines_due"], q1["on_time_rate"]) == (0, None)
    assert (q2["deadlines_due"], q2["on_time"]) == (6, 2)


async def test_a_report_exactly_at_its_deadline_is_on_time(engine: AsyncEngine, policy: Policy) -> None:
    known = utc(2026, 3, 2, 1)
    for minutes, type_ in ((30, ReportType.FIRST), (120, ReportType.WRITTEN), (180, ReportType.FINAL)):
        # level IV: first report due at +30m, written report at +2h; the final cancels the follow-up
        await store(
            engine,
            policy,
            report("inc-1", type_, level=IV, known_at=known, reported_at=known + minutes * MIN),
        )
    assert await entries(engine, EntryKind.LATE_REPORT) == []
    row = township(await compute(engine, policy, Q1, AFTER_Q1), A)
    assert (row["deadlines_due"], row["on_time"], row["on_time_rate"]) == (2, 2, 1.0)


# --- publishing ----------------------------------------------------------------------------------


def digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def publish(engine: AsyncEngine, policy: Policy, key: str, now: datetime) -> dict[str, Any]:
    kind, period = parse_period(key, policy.tz)
    async with engine.begin() as conn:
        return await bulletins.publish(conn, policy, kind, period, INFO, now)


async def published(engine: AsyncEngine, key: str) -> dict[str, Any] | None:
    kind = "year" if len(key) == 4 else "quarter"
    async with engine.connect() as conn:
        return await bulletins.published(conn, kind, key)


async def test_publishing_freezes_the_content(engine: AsyncEngine, policy: Policy) -> None:
    await build_quarter(engine, policy)
    expected = await compute(engine, policy, Q1, AFTER_Q1)

    stored = await publish(engine, policy, Q1, AFTER_Q1)
    assert (stored["kind"], stored["period"], stored["published_by"]) == ("quarter", Q1, INFO)
    assert stored["published_at"] == AFTER_Q1
    assert stored["content"] == expected
    assert stored["content_hash"] == digest(stored["content"])

    # Afterwards: the pending erroneous report is confirmed and a Q1 report turns up late on the bus.
    await decide(
        engine, (await one_entry(engine, EntryKind.ERRONEOUS_REPORT, "inc-B1")).id, ReviewDecision.CONFIRM
    )
    straggler = report(
        "inc-late", level=IV, township=C, known_at=utc(2026, 3, 30, 1), reported_at=utc(2026, 3, 30, 2)
    )
    await store(engine, policy, straggler)
    recomputed = await compute(engine, policy, Q1, AFTER_Q1)
    assert township(recomputed, B)["failures"] == {"erroneous_report": 1}
    assert township(recomputed, C)["reports"] == 3
    assert recomputed != expected

    again = await published(engine, Q1)
    assert again == stored
    assert again is not None and again["content"] == expected
    assert again["content_hash"] == digest(expected)


async def test_a_period_is_published_once(engine: AsyncEngine, policy: Policy) -> None:
    first = await publish(engine, policy, Q1, AFTER_Q1)
    with pytest.raises(ConflictError, match="already published"):
        await publish(engine, policy, Q1, AFTER_Q1 + HOUR)
    assert await published(engine, Q1) == first


async def test_a_period_that_has_not_ended_is_not_published(engine: AsyncEngine, policy: Policy) -> None:
    with pytest.raises(ConflictError, match="has not ended"):
        await publish(engine, policy, Q1, Q1_END - timedelta(microseconds=1))
    with pytest.raises(ConflictError, match="has not ended"):
        await publish(engine, policy, "2026", AFTER_Q1)
    assert await published(engine, Q1) is None
    # The first instant of the next quarter is late enough.
    assert (await publish(engine, policy, Q1, Q1_END))["period"] == Q1


async def test_publish_due_waits_out_the_review_window_then_publishes_once(
    engine: AsyncEngine, policy: Policy
) -> None:
    await build_quarter(engine, policy)
    window_over = Q1_END + policy.scoring.publish_after  # 2026-04-11 00:00 local (default 10 days)
    async with engine.begin() as conn:
        # Q1 is still under review at 00:05 on 1 April; 2025's window ended in January.
        assert await bulletins.publish_due(conn, policy, AFTER_Q1) == ["2025"]
    async with engine.begin() as conn:
        assert await bulletins.publish_due(conn, policy, window_over - MICRO) == []
    assert await published(engine, Q1) is None
    async with engine.begin() as conn:
        assert await bulletins.publish_due(conn, policy, window_over) == [Q1]
    async with engine.begin() as conn:
        assert await bulletins.publish_due(conn, policy, window_over + HOUR) == []

    quarter, year = await published(engine, Q1), await published(engine, "2025")
    assert quarter is not None and year is not None
    assert (quarter["published_by"], quarter["published_at"]) == ("scheduler", window_over)
    assert quarter["content"] == await compute(engine, policy, Q1, window_over)
    assert (year["content"]["kind"], year["content"]["period"]) == ("year", "2025")
    async with engine.connect() as conn:
        listed = await bulletins.list_published(conn)
    assert [(b["kind"], b["period"]) for b in listed] == [("quarter", Q1), ("year", "2025")]


async def test_publish_due_after_new_year_publishes_q4_and_the_year_once_reviewed(
    engine: AsyncEngine, policy: Policy
) -> None:
    new_year = utc(2025, 12, 31, 16, 10)  # 2026-01-01 00:10 local
    async with engine.begin() as conn:
        assert await bulletins.publish_due(conn, policy, new_year) == []
    reviewed = utc(2026, 1, 10, 16, 5)  # 2026-01-11 00:05 local: the daily job after the window
    async with engine.begin() as conn:
        assert await bulletins.publish_due(conn, policy, reviewed) == ["2025-Q4", "2025"]
    async with engine.begin() as conn:
        assert await bulletins.publish_due(conn, policy, reviewed + timedelta(days=1)) == []


def test_shanghai_is_the_policy_zone(policy: Policy) -> None:
    assert policy.timezone == SHANGHAI
    assert Q1_END.astimezone(policy.tz) == datetime(2026, 4, 1, tzinfo=policy.tz)
    assert Q1_END.tzinfo is UTC
