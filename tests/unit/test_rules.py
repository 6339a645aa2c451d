from datetime import UTC, datetime, timedelta

import pytest

from alerting.domain import DeadlineKind, Level, Report, Reporter, ReportType
from alerting.policy import Chain, LevelRules, Repeat, Step
from escalation.rules import NewDeadline, Round, initial_deadlines, lateness, meets, next_round

M = timedelta(minutes=1)
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


def level_ii(clock_starts: str = "known_at") -> LevelRules:
    return LevelRules(clock_starts=clock_starts, first_report=15 * M, written_report=40 * M, ack=5 * M)


def test_initial_deadlines_count_from_known_at() -> None:
    assert initial_deadlines(report(), level_ii()) == [
        NewDeadline(DeadlineKind.FIRST_REPORT, KNOWN + 15 * M),
        NewDeadline(DeadlineKind.WRITTEN_REPORT, KNOWN + 40 * M),
        NewDeadline(DeadlineKind.ACK, REPORTED + 5 * M),
    ]


def test_initial_deadlines_can_count_from_occurred_at_but_ack_still_from_reported_at() -> None:
    assert initial_deadlines(report(), level_ii("occurred_at")) == [
        NewDeadline(DeadlineKind.FIRST_REPORT, OCCURRED + 15 * M),
        NewDeadline(DeadlineKind.WRITTEN_REPORT, OCCURRED + 40 * M),
        NewDeadline(DeadlineKind.ACK, REPORTED + 5 * M),
    ]


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
    assert next_round(CHAIN, DUE, 0, DUE) == Round(0, 0, DUE, DUE + 10 * M)


def test_next_round_waits_for_its_time() -> None:
    assert next_round(CHAIN, DUE, 1, DUE + 10 * M - timedelta(microseconds=1)) is None
    assert next_round(CHAIN, DUE, 1, DUE + 10 * M) == Round(1, 1, DUE + 10 * M, DUE + 20 * M)


def test_after_an_outage_only_the_latest_due_round_is_sent() -> None:
    # Down from just after round 0 until 55m: rounds 1 (10m), 2 (20m) and 3 (50m) are all due.
    assert next_round(CHAIN, DUE, 1, DUE + 55 * M) == Round(3, 2, DUE + 50 * M, DUE + 80 * M)


def test_last_round_has_no_next_and_nothing_follows() -> None:
    assert next_round(CHAIN, DUE, 5, DUE + 110 * M) == Round(5, 2, DUE + 110 * M, None)
    assert next_round(CHAIN, DUE, 6, DUE + 1000 * M) is None


def test_chain_without_repeats() -> None:
    chain = Chain(steps=(Step(after=0 * M, channels=("hook",)),))
    assert chain.offsets() == [(0, 0 * M)]
    assert next_round(chain, DUE, 0, DUE + 5 * M) == Round(0, 0, DUE, None)
    assert next_round(chain, DUE, 1, DUE + 5 * M) is None
