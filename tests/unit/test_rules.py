from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from alerting.domain import DeadlineKind, Level, Report, Reporter, ReportType
from alerting.policy.model import Chain, FollowupRule, LevelRules, Repeat, Step
from escalation.rules import (
    NewDeadline,
    Round,
    county_deadlines,
    initial_deadlines,
    lateness,
    meets,
    next_followup,
    next_round,
    rederived_due,
    regraded_due,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
M = timedelta(minutes=1)
H = timedelta(hours=1)
OCCURRED = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
KNOWN = OCCURRED + 5 * M
REPORTED = KNOWN + 3 * M
DUE = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
# The default chain of the example policy: rounds at 0, 10m, 20m, 50m, 80m, 110m.
CHAIN = Chain(
    steps=(
        Step(after=0 * M, channels=("hook",)),
        Step(after=10 * M, channels=("hook",)),
        Step(after=20 * M, channels=("hook",)),
    ),
    repeat_last=Repeat(every=30 * M, times=3),
)


def report(report_type: ReportType = ReportType.FIRST) -> Report:
    return Report(
        report_id="rep-1",
        incident_id="inc-1",
        township="城关镇",
        type=report_type,
        category="fire",
        level=Level.II,
        title="仓库起火",
        summary="",
        occurred_at=OCCURRED,
        known_at=KNOWN,
        reported_at=REPORTED,
        reporter=Reporter("张三", "13800000000"),
    )


def level_ii(clock_starts: str = "known_at", /, **extra: object) -> LevelRules:
    return LevelRules.model_validate(
        {
            "clock_starts": clock_starts,
            "first_report": 15 * M,
            "written_report": 40 * M,
            "ack": 5 * M,
            **extra,
        }
    )


# Level II of the example policy, with its follow-up cadence and the county's forwarding limits.
FULL: dict[str, object] = {
    "followup": {"every": "2h", "for": "12h", "at": ["08:00", "17:00"]},
    "final_report": "24h",
    "forward_phone": "30m",
    "forward_written": "1h",
}


def test_initial_deadlines_count_from_known_at() -> None:
    assert initial_deadlines(report(), level_ii(), SHANGHAI) == [
        NewDeadline(DeadlineKind.FIRST_REPORT, KNOWN + 15 * M),
        NewDeadline(DeadlineKind.WRITTEN_REPORT, KNOWN + 40 * M),
        NewDeadline(DeadlineKind.ACK, REPORTED + 5 * M),
    ]


def test_initial_deadlines_can_count_from_occurred_at_but_ack_still_from_reported_at() -> None:
    assert initial_deadlines(report(), level_ii("occurred_at"), SHANGHAI) == [
        NewDeadline(DeadlineKind.FIRST_REPORT, OCCURRED + 15 * M),
        NewDeadline(DeadlineKind.WRITTEN_REPORT, OCCURRED + 40 * M),
        NewDeadline(DeadlineKind.ACK, REPORTED + 5 * M),
    ]


def test_initial_deadlines_with_forwarding_and_followup() -> None:
    # The county's forwarding limits count from when it heard (reported_at); the first follow-up
    # slot from the clock start.
    assert initial_deadlines(report(), level_ii(**FULL), SHANGHAI) == [
        NewDeadline(DeadlineKind.FIRST_REPORT, KNOWN + 15 * M),
        NewDeadline(DeadlineKind.WRITTEN_REPORT, KNOWN + 40 * M),
        NewDeadline(DeadlineKind.ACK, REPORTED + 5 * M),
        NewDeadline(DeadlineKind.FORWARD_PHONE, REPORTED + 30 * M),
        NewDeadline(DeadlineKind.FORWARD_WRITTEN, REPORTED + 60 * M),
        NewDeadline(DeadlineKind.FOLLOWUP, KNOWN + 2 * H, seq=1),
    ]


def test_initial_deadlines_from_occurred_at_start_the_followup_cadence_there_too() -> None:
    assert initial_deadlines(report(), level_ii("occurred_at", **FULL), SHANGHAI)[-1] == NewDeadline(
        DeadlineKind.FOLLOWUP, OCCURRED + 2 * H, seq=1
    )


def test_initial_deadlines_with_only_written_forwarding_and_a_daily_followup() -> None:
    rules = level_ii(followup={"at": ["08:00"]}, forward_written="1h")
    # KNOWN is 16:05 in Shanghai: the first daily 08:00 is the next morning, 00:00 UTC.
    assert initial_deadlines(report(), rules, SHANGHAI) == [
        NewDeadline(DeadlineKind.FIRST_REPORT, KNOWN + 15 * M),
        NewDeadline(DeadlineKind.WRITTEN_REPORT, KNOWN + 40 * M),
        NewDeadline(DeadlineKind.ACK, REPORTED + 5 * M),
        NewDeadline(DeadlineKind.FORWARD_WRITTEN, REPORTED + 60 * M),
        NewDeadline(DeadlineKind.FOLLOWUP, datetime(2024, 5, 2, 0, 0, tzinfo=UTC), seq=1),
    ]


def test_county_deadlines_count_from_when_the_county_heard() -> None:
    assert county_deadlines(level_ii(forward_phone="30m"), DUE) == [
        NewDeadline(DeadlineKind.ACK, DUE + 5 * M),
        NewDeadline(DeadlineKind.FORWARD_PHONE, DUE + 30 * M),
    ]


# --- next_followup -------------------------------------------------------------------------------

CADENCE_II = FollowupRule.model_validate({"every": "2h", "for": "12h", "at": ["08:00", "17:00"]})
DAILY_8 = FollowupRule.model_validate({"at": ["08:00"]})


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


START = local(2, 9)
# Every 2 h for the first 12 h (11:00 .. 21:00), then the daily 08:00 and 17:00.
SLOTS_II = [
    local(2, 11),
    local(2, 13),
    local(2, 15),
    local(2, 17),
    local(2, 19),
    local(2, 21),
    local(3, 8),
    local(3, 17),
    local(4, 8),
]


def test_followup_slots_walk_the_cadence_then_the_daily_times() -> None:
    slots: list[datetime] = []
    after = START
    for _ in SLOTS_II:
        slot = next_followup(CADENCE_II, START, after, SHANGHAI)
        assert slot is not None
        slots.append(slot)
        after = slot
    assert slots == SLOTS_II


@pytest.mark.parametrize(("before", "expected"), list(pairwise([START, *SLOTS_II])))
def test_followup_after_exactly_a_slot_is_the_next_one(before: datetime, expected: datetime) -> None:
    assert next_followup(CADENCE_II, START, before, SHANGHAI) == expected


@pytest.mark.parametrize("slot", SLOTS_II)
def test_followup_just_before_a_slot_is_that_slot(slot: datetime) -> None:
    assert next_followup(CADENCE_II, START, slot - timedelta(microseconds=1), SHANGHAI) == slot


def test_followup_after_the_window_in_utc_is_the_next_local_morning() -> None:
    # 21:00 local is 13:00 UTC; the next slot is 08:00 local on the 3rd, i.e. 00:00 UTC.
    after = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    assert next_followup(CADENCE_II, START, after, SHANGHAI) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


def test_daily_followup_later_the_same_morning_or_the_next_day() -> None:
    assert next_followup(DAILY_8, local(2, 7, 59), local(2, 7, 59), SHANGHAI) == local(2, 8)
    assert next_followup(DAILY_8, local(2, 8), local(2, 8), SHANGHAI) == local(3, 8)
    assert next_followup(DAILY_8, local(2, 7, 59), local(2, 8), SHANGHAI) == local(3, 8)


def test_no_followup_rule_means_no_followup() -> None:
    assert next_followup(None, START, START, SHANGHAI) is None


def test_daily_times_inside_the_cadence_window_are_not_extra_slots() -> None:
    # Every 5 h for 12 h from 09:00: 14:00 and 19:00; the window ends at 21:00, so the 20:00
    # daily time that day is not a slot; the next is 08:00 the following morning.
    rule = FollowupRule.model_validate({"every": "5h", "for": "12h", "at": ["08:00", "20:00"]})
    assert next_followup(rule, START, START, SHANGHAI) == local(2, 14)
    assert next_followup(rule, START, local(2, 14), SHANGHAI) == local(2, 19)
    assert next_followup(rule, START, local(2, 19), SHANGHAI) == local(3, 8)
    assert next_followup(rule, START, local(3, 8), SHANGHAI) == local(3, 20)


def test_cadence_without_daily_times_ends_with_its_window() -> None:
    rule = FollowupRule.model_validate({"every": "2h", "for": "4h"})
    assert next_followup(rule, START, START, SHANGHAI) == local(2, 11)
    assert next_followup(rule, START, local(2, 11), SHANGHAI) == local(2, 13)
    assert next_followup(rule, START, local(2, 13), SHANGHAI) is None


def test_a_cadence_that_validates_yields_followups() -> None:
    try:
        rule = FollowupRule.model_validate({"every": "2h"})
    except ValidationError:
        return  # rejecting the rule is also a fix
    assert next_followup(rule, START, START, SHANGHAI) is not None


# --- rederived_due -------------------------------------------------------------------------------

CHANGED = local(5, 10, 30)


@pytest.mark.parametrize(
    ("kind", "limit"),
    [
        (DeadlineKind.WRITTEN_REPORT, 40 * M),
        (DeadlineKind.ACK, 5 * M),
        (DeadlineKind.FORWARD_PHONE, 30 * M),
        (DeadlineKind.FORWARD_WRITTEN, 60 * M),
        (DeadlineKind.FINAL_REPORT, 24 * H),
    ],
)
def test_rederived_limits_count_from_the_change(kind: DeadlineKind, limit: timedelta) -> None:
    assert rederived_due(kind, level_ii(**FULL), CHANGED, SHANGHAI) == CHANGED + limit


def test_rederived_final_report_uses_the_level_default() -> None:
    assert rederived_due(DeadlineKind.FINAL_REPORT, level_ii(), CHANGED, SHANGHAI) == CHANGED + 72 * H


def test_rederived_followup_restarts_the_cadence_at_the_change() -> None:
    assert rederived_due(DeadlineKind.FOLLOWUP, level_ii(**FULL), CHANGED, SHANGHAI) == CHANGED + 2 * H
    daily = level_ii(followup={"at": ["08:00"]})
    assert rederived_due(DeadlineKind.FOLLOWUP, daily, CHANGED, SHANGHAI) == local(6, 8)


@pytest.mark.parametrize(
    "kind", [DeadlineKind.FORWARD_PHONE, DeadlineKind.FORWARD_WRITTEN, DeadlineKind.FOLLOWUP]
)
def test_rederived_limit_absent_at_the_new_level_is_no_longer_owed(kind: DeadlineKind) -> None:
    assert rederived_due(kind, level_ii(), CHANGED, SHANGHAI) is None


# --- regraded_due: a graver level only brings clocks forward, a lighter one only relaxes them ------


def test_levels_order_by_gravity() -> None:
    assert Level.I.graver_than(Level.II) and Level.II.graver_than(Level.IV)
    assert not Level.III.graver_than(Level.III) and not Level.IV.graver_than(Level.III)


@pytest.mark.parametrize(
    ("current", "graver", "expected"),
    [
        (CHANGED + 10 * M, True, CHANGED + 10 * M),  # already earlier than the new limit: stays
        (CHANGED + 90 * M, True, CHANGED + 40 * M),  # later: comes forward to the new limit
        (CHANGED + 10 * M, False, CHANGED + 40 * M),  # the county lowered it: relaxes
        (CHANGED + 90 * M, False, CHANGED + 90 * M),  # never tighter on a lighter level
    ],
)
def test_regraded_due(current: datetime, graver: bool, expected: datetime) -> None:
    due = regraded_due(
        DeadlineKind.WRITTEN_REPORT, current, level_ii(**FULL), CHANGED, SHANGHAI, graver=graver
    )
    assert due == expected


def test_a_limit_the_new_level_lacks_stays_when_graver_and_goes_when_lighter() -> None:
    current = CHANGED + 10 * M
    kind = DeadlineKind.FORWARD_PHONE
    assert regraded_due(kind, current, level_ii(), CHANGED, SHANGHAI, graver=True) == current
    assert regraded_due(kind, current, level_ii(), CHANGED, SHANGHAI, graver=False) is None


@pytest.mark.parametrize(
    "kind",
    [
        DeadlineKind.FIRST_REPORT,
        DeadlineKind.CONCEALMENT_CHECK,
        DeadlineKind.SILENCE_REMINDER,
        DeadlineKind.SILENCE,
        DeadlineKind.PERIODIC,
        DeadlineKind.QUARTER_BALANCE,
    ],
)
def test_kinds_not_rederived_raise(kind: DeadlineKind) -> None:
    with pytest.raises(ValueError, match=kind.value):
        rederived_due(kind, level_ii(**FULL), CHANGED, SHANGHAI)


@pytest.mark.parametrize("report_type", list(ReportType))
def test_meets(report_type: ReportType) -> None:
    assert meets(report(report_type), DeadlineKind.FIRST_REPORT)
    assert meets(report(report_type), DeadlineKind.WRITTEN_REPORT) is (report_type == ReportType.WRITTEN)
    assert not meets(report(report_type), DeadlineKind.ACK)  # no report acknowledges on the county's behalf


def test_lateness() -> None:
    assert lateness(DUE, DUE - timedelta(seconds=1)) is None
    assert lateness(DUE, DUE) is None
    assert lateness(DUE, DUE + timedelta(seconds=1)) == timedelta(seconds=1)


def test_never_fires_early() -> None:
    assert next_round(CHAIN, DUE, 0, DUE - timedelta(microseconds=1)) is None


def test_first_round_exactly_at_the_deadline() -> None:
    assert next_round(CHAIN, DUE, 0, DUE) == Round(0, 0, DUE, DUE + 10 * M, (0,))


def test_next_round_waits_for_its_time() -> None:
    assert next_round(CHAIN, DUE, 1, DUE + 10 * M - timedelta(microseconds=1)) is None
    assert next_round(CHAIN, DUE, 1, DUE + 10 * M) == Round(1, 1, DUE + 10 * M, DUE + 20 * M, (1,))


def test_after_an_outage_the_latest_due_round_is_sent_for_every_step_it_stands_for() -> None:
    # Down from just after round 0 until 55m: rounds 1 (10m), 2 (20m) and 3 (50m) are all due. One
    # round goes out, round 3, and it reaches steps 1 and 2 (round 3 repeats step 2).
    assert next_round(CHAIN, DUE, 1, DUE + 55 * M) == Round(3, 2, DUE + 50 * M, DUE + 80 * M, (1, 2))


def test_a_deadline_first_seen_late_covers_every_step_from_the_first() -> None:
    # A report that arrives 25 minutes past its limit: rounds 0, 1 and 2 are due at once.
    assert next_round(CHAIN, DUE, 0, DUE + 25 * M) == Round(2, 2, DUE + 20 * M, DUE + 50 * M, (0, 1, 2))


def test_last_round_has_no_next_and_nothing_follows() -> None:
    assert next_round(CHAIN, DUE, 5, DUE + 110 * M) == Round(5, 2, DUE + 110 * M, None, (2,))
    assert next_round(CHAIN, DUE, 6, DUE + 1000 * M) is None


def test_chain_without_repeats() -> None:
    chain = Chain(steps=(Step(after=0 * M, channels=("hook",)),))
    assert chain.offsets() == [(0, 0 * M)]
    assert next_round(chain, DUE, 0, DUE + 5 * M) == Round(0, 0, DUE, None, (0,))
    assert next_round(chain, DUE, 1, DUE + 5 * M) is None
