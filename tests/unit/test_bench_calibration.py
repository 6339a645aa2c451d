"""The benchmark's calibration: its fixed workload, the scaling to the reference, the lines it prints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench import calibration
from bench.calibration import (
    CHUNK,
    PYTHON_REFERENCE_OPS_PER_S,
    WORKLOAD_DIGEST,
    Calibration,
    drift,
    drift_line,
    header,
    python_workload,
)
from bench.common import Row
from bench.run import table, verdict

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _calibration(score: float, raw: float = 394_850.0, pg: float | None = 8_000.0) -> Calibration:
    ops = PYTHON_REFERENCE_OPS_PER_S * score
    return Calibration(AT, raw, 100_000, ops, ops * 0.9, pg, 0.42)


def test_the_workload_is_the_one_the_reference_was_measured_with() -> None:
    # A different chain head means a different workload: measure PYTHON_REFERENCE_OPS_PER_S again.
    assert python_workload(CHUNK) == WORKLOAD_DIGEST
    assert python_workload(3) == python_workload(3) != python_workload(4)


def test_a_slow_day_scales_up_to_the_reference() -> None:
    slow = _calibration(0.5)
    assert slow.python_score == pytest.approx(0.5)
    assert slow.rate_at_reference(3_000) == pytest.approx(6_000)  # throughput ÷ score
    assert slow.time_at_reference(40.0) == pytest.approx(20.0)  # latency × score
    fast = _calibration(1.25)
    assert fast.rate_at_reference(5_000) == pytest.approx(4_000)
    assert fast.time_at_reference(40.0) == pytest.approx(50.0)


def test_the_calibration_line() -> None:
    assert _calibration(1.03, raw=512_300.4).line() == (
        "calibration: raw consume 512,300 msg/s · pure-Python 1.03 × reference (51,500 ops/s) · "
        "PostgreSQL 8,000 round trips/s (2026-12-01 09:30 UTC, load 0.42)"
    )
    assert "PostgreSQL" not in _calibration(1.0, pg=None).line("calibration at end")
    assert _calibration(1.0).line("calibration at end").startswith("calibration at end: raw consume")


def test_the_drift_within_a_run() -> None:
    start, end = _calibration(1.0, raw=600_000), _calibration(0.98, raw=400_000, pg=8_400.0)
    assert drift(start, end) == {"raw_consume": -0.3333, "python": -0.02, "postgresql": 0.05}
    line = drift_line(start, end)
    assert line.startswith(
        "drift within the run (end against start): raw consume -33.3 % · pure-Python -2.0 % · "
        "PostgreSQL +5.0 %"
    )
    assert "the machine's speed changed while it ran" in line
    assert "changed" not in drift_line(start, _calibration(0.95, raw=580_000))
    assert "postgresql" not in drift(_calibration(1.0, pg=None), end)


def test_the_header_says_what_a_target_is_judged_against() -> None:
    start = _calibration(0.8)
    lines = header(start, None)
    assert lines[0].startswith("calibration at start: ")
    assert "not measured" in lines[1]
    assert "judged on the figures as measured, at this run's calibration" in lines[-1]
    assert "throughputs ÷ 0.80, times × 0.80" in lines[-1]
    assert len(header(start, _calibration(0.9))) == 4


def test_the_table_shows_the_figure_at_reference_and_a_verdict_that_differs_there() -> None:
    slow_day = Row("ingest", "4,000 reports/s", "≥ 5,000/s", False, "5,000 reports/s", True)
    assert verdict(slow_day) == "NOT met (met at reference)"
    fast_day = Row("firing", "p99 45 ms", "p99 ≤ 50 ms", True, "p99 56 ms", False)
    assert verdict(fast_day) == "met (NOT met at reference)"
    assert verdict(Row("restart", "0.2 s", "< 60 s", True, "0.2 s", True)) == "met"
    assert verdict(Row("delivery", "p99 12 ms", "—", None, "p99 10 ms")) == "—"
    lines = table([slow_day, Row("memory", "20 B", "well under", True)]).splitlines()
    assert lines[0].split() == [
        "measurement",
        "figure",
        "at",
        "reference",
        "target",
        "(docs/DESIGN.md)",
        "met",
    ]
    assert lines[3].split()[1:4] == ["20", "B", "—"]  # nothing scaled: shown as such


def test_the_reference_is_recorded_in_the_results() -> None:
    reference = calibration.reference_json()
    assert reference["python_ops_per_s"] == PYTHON_REFERENCE_OPS_PER_S
    assert WORKLOAD_DIGEST in reference["workload"]
    as_json = _calibration(0.5).as_json()
    assert as_json["python_score"] == 0.5 and as_json["measured_at"] == AT.isoformat()
