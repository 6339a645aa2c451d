"""The auditors' benchmark generator's vocabulary: the kinds' shares, the policy's limits, the rows'
columns, a future entry (Event) and a deadline row waiting for its id. Times are integer microseconds
since the epoch (UTC)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")

# Shares of all entries (the proportions); reviews (~13 %) and checkpoints make up the rest.
FINDING_SHARES = {
    "late_report": 0.30,
    "missing_report": 0.15,
    "followup_overdue": 0.15,
    "unacknowledged": 0.08,
    "periodic_overdue": 0.05,
    "forward_overdue": 0.03,
    "silent_unit": 0.03,
    "assignment_overdue": 0.03,
    "erroneous_report": 0.02,
    "concealment_suspected": 0.01,
    "good_news_only": 0.01,
    "officer_vacancy": 0.01,
}
INCIDENT_KINDS = (
    "late_report",
    "missing_report",
    "followup_overdue",
    "unacknowledged",
    "forward_overdue",
    "erroneous_report",
    "concealment_suspected",
)
ENTRIES_PER_INCIDENT = 2.6  # findings per incident (1 + Poisson(1.6)); reviews come on top
LEVELS, LEVEL_WEIGHTS = ("I", "II", "III", "IV"), (1, 5, 24, 70)
CATEGORIES = ("安全生产", "自然灾害", "事故灾难", "公共卫生", "社会安全", "群体性事件", "网络舆情")
# Limits after known_at, minutes, per level (deploy/policy.example.toml's defaults)
FIRST = {"I": 15, "II": 15, "III": 20, "IV": 30}
WRITTEN = {"I": 40, "II": 40, "III": 60, "IV": 120}
ACK = {"I": 5, "II": 5, "III": 10, "IV": 30}
FORWARD_WRITTEN = {"I": 60, "II": 60, "III": 60, "IV": 120}
FOLLOWUP_EVERY = {"I": 120, "II": 120, "III": 1440, "IV": 1440}
FINAL_AFTER_CLOSE = {"I": 1440, "II": 1440, "III": 2880, "IV": 4320}
REPORT_TYPE = {
    "first_report": "first",
    "written_report": "written",
    "followup": "followup",
    "final_report": "final",
}
INFO_SECTION = ("信息科 刘科长", "信息科 王干事", "信息科 李干事")
AUDITORS = ("审计 赵审计员", "纪检 钱主任")
REASONS = {
    "confirm": ("经核实，情况属实", "核对报送记录，予以确认", "乡镇已说明情况，确认"),
    "waive": ("因通信中断，经核实免责", "系统故障导致延误，免责", "已电话报告，补录书面，免责"),
    "reclassify": ("经调查核实，改定性", "结合通报材料，改定性"),
}
KEY_FACTS = ("level", "place", "deaths", "injured", "missing_persons")

INCIDENT_COLUMNS = (
    "id", "township", "level", "category", "title", "status", "origin", "source", "registered_by",
    "occurred_at", "known_at", "opened_at", "place", "deaths", "injured", "missing_persons",
    "acknowledged_at", "acknowledged_by", "closed_at", "updated_at",
)  # fmt: skip
DEADLINE_COLUMNS = (
    "id", "incident_id", "township", "kind", "seq", "period", "due_at", "state", "fire_at",
    "next_round", "met_at", "met_by", "context", "created_at",
)  # fmt: skip
REPORT_COLUMNS = (
    "report_id", "incident_id", "type", "township", "category", "level", "title", "summary",
    "occurred_at", "known_at", "reported_at", "reporter_name", "reporter_phone", "place", "deaths",
    "injured", "missing_persons", "is_problem", "stored_at", "late_by_seconds", "provenance",
    "producer_key",
)  # fmt: skip
ENTRY_COLUMNS = (
    "id", "kind", "township", "incident_id", "report_id", "deadline_id", "refers_to", "responsible",
    "occurred_at", "recorded_at", "delay_seconds", "details", "prev_hash", "hash",
)  # fmt: skip
# Which columns hold times (integer microseconds) and JSON, for the writers.
TIME_COLUMNS = frozenset(
    {"occurred_at", "known_at", "opened_at", "acknowledged_at", "closed_at", "updated_at", "due_at"}
    | {"fire_at", "met_at", "created_at", "reported_at", "stored_at", "recorded_at"}
)
JSON_COLUMNS = frozenset({"context", "details"})


def iso(us: int) -> str:
    return (EPOCH + timedelta(microseconds=us)).isoformat()


def when(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation: Knuth's loop costs O(mean)
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@dataclass(frozen=True, slots=True)
class DeadlineSpec:
    """A deadline row but its id, which is given when its entry is written (ids follow the chain)."""

    incident_id: str | None
    township: str
    kind: str
    seq: int
    period: str | None
    due_us: int
    met_us: int | None
    met_by: str | None
    context: dict[str, Any] | None

    def row(self, deadline_id: int) -> tuple[Any, ...]:
        state, rounds = ("met", 0) if self.met_us is not None else ("exhausted", 3)
        return (
            deadline_id, self.incident_id, self.township, self.kind, self.seq, self.period, self.due_us,
            state, None, rounds, self.met_us, self.met_by, self.context, self.due_us - 6 * HOUR,
        )  # fmt: skip


@dataclass(slots=True)
class Event:
    """A future entry, waiting in the generator's time-ordered heap."""

    kind: str
    township: str | None
    responsible: str
    occurred_us: int
    incident_id: str | None = None
    report: tuple[Any, ...] | None = None  # the report row it points at (report_id first)
    deadline: DeadlineSpec | None = None  # the deadline row it points at
    refers_to: int | None = None
    delay_seconds: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    review_of: tuple[int, str, int | None] | None = None  # (target id, its kind, the review superseded)


@dataclass(frozen=True, slots=True)
class DutyRates:
    silent: float  # per day, Poisson
    assignment: float
    vacancy: float
    periodic: float  # probability that a township misses one monthly duty
    balance: float  # probability that a township's quarter is flagged 报喜不报忧
    expected: float  # duty findings per day, on average


def duty_rates(findings_per_day: float, shares: dict[str, float], townships: int) -> DutyRates:
    """The duties' rates for `findings_per_day`. Monthly and quarterly duties have one slot per
    township and period (the deadlines' unique key), so their share is capped at half the slots."""
    total = sum(shares.values())

    def per_day(kind: str) -> float:
        return findings_per_day * shares[kind] / total

    months, quarters = 365.25 / 12, 365.25 / 4
    periodic = min(0.5, per_day("periodic_overdue") * months / (2 * townships))
    balance = min(0.5, per_day("good_news_only") * quarters / townships)
    expected = (
        per_day("silent_unit")
        + per_day("assignment_overdue")
        + per_day("officer_vacancy")
        + periodic * 2 * townships / months
        + balance * townships / quarters
    )
    return DutyRates(
        per_day("silent_unit"),
        per_day("assignment_overdue"),
        per_day("officer_vacancy"),
        periodic,
        balance,
        expected,
    )
