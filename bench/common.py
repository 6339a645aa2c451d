"""What every benchmark module shares: constants, the report sent, statistics, the table's rows."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KAFKA_PORT = int(os.environ.get("BENCH_KAFKA_PORT", "39092"))
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "55432"))
TOWNSHIPS = ("城关镇", "梅林镇", "青山乡")  # the example policy's township directory
# Seeded deadlines: kinds whose first round writes an entry and notifies, and whose firing arms
# nothing else (follow-ups would arm the next slot); five per incident, as a real incident has.
SEED_KINDS = ("written_report", "ack", "forward_phone", "forward_written", "final_report")
BACKENDS = ("sqlite", "postgresql")

_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def report_fields(incident_id: str, at: str, township: str = "城关镇") -> dict[str, Any]:
    """The first report of a distinct incident, as the benchmarks send it (HTTP body fields)."""
    return {
        "incident_id": incident_id,
        "township": township,
        "type": "first",
        "category": "安全生产",
        "level": "II",
        "title": "某企业仓库火情",
        "summary": "现场明火已扑灭，无人员伤亡，原因调查中。",
        "occurred_at": at,
        "known_at": at,
        "reporter": {"name": "张三", "phone": "0791-88888888"},
    }


def report_body(incident_id: str, at: str) -> bytes:
    """POST /api/v1/reports: the first report of a distinct incident (the HTTP load generators')."""
    return json.dumps(report_fields(incident_id, at), ensure_ascii=False).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes() -> int:
    """This process's resident set size (VmRSS in /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99, max (and count) of durations given in seconds, in milliseconds."""
    return {
        "count": len(seconds),
        "p50_ms": round(pct(seconds, 50) * 1000, 3),
        "p99_ms": round(pct(seconds, 99) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3) if seconds else math.nan,
    }


async def until(
    check: Callable[[], Awaitable[bool] | bool], within: float, what: str, every: float = 0.05
) -> None:
    """Poll `check` until true; bounded."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(every)


@dataclass
class Row:
    """One line of the printed table. `at_reference`: the figure scaled to the reference calibration
    (bench/calibration.py), and whether the target would be met there; empty where speed does not
    enter (bytes, a ratio within the run, a pace set by a rate limit)."""

    measurement: str
    figure: str
    target: str
    met: bool | None  # None: no target in docs/DESIGN.md
    at_reference: str = ""
    met_at_reference: bool | None = None


@dataclass
class Result:
    """What one benchmark module returns: numeric figures (flat), table rows, and details."""

    figures: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value
