"""The machine's speed at a run's start and end (raw Kafka consume, pure Python, PostgreSQL)."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bench.common import log, utcnow
from bench.topics import create_topic, produce, raw_consume

if TYPE_CHECKING:
    from bench.services import Env

# The reference calibration, "1.00 ×": measure_python(15) run 32 times on this 2-core machine on
# 2026-12-02 03:50-04:04 UTC (load average 0.3-1.9 from others' work). The best chunk of a run
# topped out at 50,000-52,000 ops/s while single chunks ranged 28,000-52,000 within a minute: the
# host's speed varies, not the workload. The reference is that top: the machine when nothing slows it.
PYTHON_REFERENCE_OPS_PER_S = 50_000.0
PYTHON_REFERENCE_MEASURED = "2026-12-02 03:50-04:04 UTC, the top of 32 runs of best of 15 × 2,000 ops"
# aiokafka's raw consume in README's full run of 2026-11-27 (50,000 reports, best of 3); for the
# record beside today's, not used for scaling.
RAW_CONSUME_REFERENCE_PER_S = 598_644.0
RAW_CONSUME_REFERENCE_MEASURED = "README's full run, 2026-11-27 05:43 UTC"

CHUNK = 2_000  # workload operations per timed chunk (~40 ms)
# The chain head python_workload(CHUNK) ends at: a changed workload changes it (tests/unit checks
# it), and then PYTHON_REFERENCE_OPS_PER_S must be measured again.
WORKLOAD_DIGEST = "ead8dc4cc240fabc15ab15d95753d41ac48b9d4109c3218775d2f1c137b6cbcd"
DRIFT_NOTABLE = 0.10  # a figure that moved more than this within the run is called out

_REPORT = {
    "schema_version": 1,
    "incident_id": "INC-0000000",
    "township": "城关镇",
    "type": "first",
    "category": "安全生产",
    "level": "II",
    "title": "某企业仓库火情",
    "summary": "现场明火已扑灭，无人员伤亡，原因调查中。",
    "occurred_at": "2026-12-01T08:00:00+08:00",
    "known_at": "2026-12-01T08:05:00+08:00",
    "reporter": {"name": "张三", "phone": "0791-88888888"},
}


def python_workload(n: int) -> str:
    """n rounds of the service's kind of CPU work on a report: copy and fill a dict, JSON out and back
    in, render its text fields as a message, a small pure-Python loop over it, and a hash chain (as
    the accountability log's). Returns the chain head: the same for the same n, on any machine."""
    head = "0" * 64
    for i in range(n):
        fields = {**_REPORT, "incident_id": f"INC-{i:07d}", "seq": i}
        text = json.dumps(fields, ensure_ascii=False, sort_keys=True)
        back = json.loads(text)
        message = "\n".join(f"{k}：{v}" for k, v in back.items() if isinstance(v, str) and v)
        check = 0
        for ch in message[:96]:
            check = (check * 31 + ord(ch)) & 0xFFFFFFFF
        head = hashlib.sha256(f"{head}|{check}|{text}".encode()).hexdigest()
    return head


def measure_python(chunks: int, n: int = CHUNK) -> tuple[float, float]:
    """(best, median) ops/s over `chunks` timed chunks of n operations."""
    gc.collect()
    rates = []
    for _ in range(chunks):
        t0 = time.perf_counter()
        python_workload(n)
        rates.append(n / (time.perf_counter() - t0))
    return max(rates), statistics.median(rates)


async def measure_postgres(dsn: str, n: int, repeats: int = 3) -> float:
    """SELECT 1 round trips per second on one asyncpg connection (best of `repeats`)."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        best = 0.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(n):
                await conn.fetchval("SELECT 1")
            best = max(best, n / (time.perf_counter() - t0))
        return best
    finally:
        await conn.close()


@dataclass(frozen=True)
class Calibration:
    """One measurement of the machine's speed."""

    measured_at: datetime
    raw_consume_per_s: float  # best of 3 reads of `messages` reports
    messages: int
    python_ops_per_s: float  # best chunk: what the machine can do in its quieter moments
    python_median_ops_per_s: float
    pg_round_trips_per_s: float | None  # None: PostgreSQL not in this run
    loadavg_1m: float

    @property
    def python_score(self) -> float:
        """This machine's pure-Python speed as a multiple of the reference (1.00 × reference)."""
        return self.python_ops_per_s / PYTHON_REFERENCE_OPS_PER_S

    def rate_at_reference(self, per_s: float) -> float:
        """A throughput as it would be at the reference calibration (slow day: score < 1, higher)."""
        return per_s / self.python_score

    def time_at_reference(self, duration: float) -> float:
        """A latency or duration as it would be at the reference calibration (slow day: lower)."""
        return duration * self.python_score

    def line(self, label: str = "calibration") -> str:
        parts = [
            f"raw consume {self.raw_consume_per_s:,.0f} msg/s",
            f"pure-Python {self.python_score:.2f} × reference ({self.python_ops_per_s:,.0f} ops/s)",
        ]
        if self.pg_round_trips_per_s is not None:
            parts.append(f"PostgreSQL {self.pg_round_trips_per_s:,.0f} round trips/s")
        when = self.measured_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"{label}: {' · '.join(parts)} ({when}, load {self.loadavg_1m:.2f})"

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "measured_at": self.measured_at.isoformat(),
            "python_score": round(self.python_score, 3),
        }


def drift(start: Calibration, end: Calibration) -> dict[str, float]:
    """How far each figure moved from the start of the run to its end (end / start - 1)."""
    pairs = {
        "raw_consume": (start.raw_consume_per_s, end.raw_consume_per_s),
        "python": (start.python_ops_per_s, end.python_ops_per_s),
    }
    if start.pg_round_trips_per_s and end.pg_round_trips_per_s:
        pairs["postgresql"] = (start.pg_round_trips_per_s, end.pg_round_trips_per_s)
    return {name: round(b / a - 1, 4) for name, (a, b) in pairs.items()}


def drift_line(start: Calibration, end: Calibration) -> str:
    names = {"raw_consume": "raw consume", "python": "pure-Python", "postgresql": "PostgreSQL"}
    moved = drift(start, end)
    text = " · ".join(f"{names[k]} {v * 100:+.1f} %" for k, v in moved.items())
    line = f"drift within the run (end against start): {text}"
    if any(abs(v) > DRIFT_NOTABLE for v in moved.values()):
        line += f"; more than {DRIFT_NOTABLE:.0%}: the machine's speed changed while it ran"
    return line


def header(start: Calibration, end: Calibration | None) -> list[str]:
    """The lines printed above the table: both calibrations, the drift, and how to read them."""
    lines = [start.line("calibration at start")]
    if end is not None:
        lines += [end.line("calibration at end"), drift_line(start, end)]
    else:
        lines.append("calibration at end: not measured (see the log); the drift within the run is unknown")
    lines.append(
        f"targets are judged on the figures as measured, at this run's calibration; "
        f"'at reference' scales them to pure-Python 1.00 × reference "
        f"({PYTHON_REFERENCE_OPS_PER_S:,.0f} ops/s): throughputs ÷ {start.python_score:.2f}, "
        f"times × {start.python_score:.2f}"
    )
    return lines


def reference_json() -> dict[str, Any]:
    return {
        "python_ops_per_s": PYTHON_REFERENCE_OPS_PER_S,
        "python_measured": PYTHON_REFERENCE_MEASURED,
        "raw_consume_per_s": RAW_CONSUME_REFERENCE_PER_S,
        "raw_consume_measured": RAW_CONSUME_REFERENCE_MEASURED,
        "workload": f"python_workload({CHUNK}) per chunk, chain head {WORKLOAD_DIGEST}",
    }


class Calibrator:
    """Measures the run's calibration; the reports for the raw consume are produced once."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.messages = int(os.environ.get("BENCH_CALIBRATION_MESSAGES", "5000" if env.quick else "100000"))
        self.topic = ""

    async def measure(self) -> Calibration:
        env = self.env
        if not self.topic:
            self.topic = f"bench.calibration.{uuid.uuid4().hex[:8]}"
            await create_topic(env.bootstrap, self.topic)
            t = time.perf_counter()
            await produce(env.bootstrap, self.topic, self.messages, f"CAL{uuid.uuid4().hex[:6]}")
            log(f"calibration: produced {self.messages:,} reports in {time.perf_counter() - t:.1f} s")
        n = self.messages
        raw = n / min([await raw_consume(env.bootstrap, self.topic, n, within=120) for _ in range(3)])
        best, median = measure_python(5 if env.quick else 15)
        pg = None
        if "postgresql" in env.backends:
            pg = await measure_postgres(env.pg_admin_dsn, 300 if env.quick else 2000)
        return Calibration(utcnow(), raw, n, best, median, pg, os.getloadavg()[0])
