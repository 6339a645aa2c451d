"""Generated accountability logs for the auditors' benchmark: townships, incidents and duties day by
day over ten years, their entries in chain order (reviews and daily checkpoints included), and the
incident, deadline and report rows the entries point at. Pure: no database, deterministic per seed."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench import audit_rows as ar
from bench.audit_makers import RowMaker
from bench.audit_rows import FINDING_SHARES, INCIDENT_KINDS, Event

TZ = ZoneInfo("Asia/Shanghai")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEED_VERSION = 2  # bump when the generated data changes: cached databases carry it in their name
US = 1_000_000
DAY_US = 86_400 * US

REVIEWED = 0.15  # of findings; of those REREVIEWED get a second review that supersedes the first
REREVIEWED = 0.10
REVIEWS_PER_FINDING = REVIEWED * (1 + REREVIEWED)
REVIEW_DELAY_DAYS = (1, 60)


@dataclass(frozen=True, slots=True)
class SeedParams:
    entries: int
    townships: int
    first_day: date = date(2017, 1, 1)  # local (Asia/Shanghai), inclusive
    last_day: date = date(2026, 11, 30)
    seed: int = 18
    version: int = SEED_VERSION

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def describe(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "townships": self.townships,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "seed": self.seed,
            "version": self.version,
        }


def us_of(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def at_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def local_midnight_us(day: date) -> int:
    return us_of(datetime.combine(day, time(0), TZ))


_COUNTY_A = "青白金石龙凤云安永平泰宁新和长清东西南北"
_COUNTY_B = "川山江河阳源州城林溪丰宁化水乐德昌远"
_TOWN_A = "城关梅林青山桃花柳松竹杏枫荷兰桂柏槐樟杨李王张陈刘黄赵吴周徐孙马朱胡高罗郑"
_TOWN_B = "坪岭口湾桥店集塘坝沟堡寨埠庄园岗湖洲田垭铺"


def township_names(count: int, seed: int) -> list[str]:
    """`count` distinct generated names, about twenty townships to a county: "青川县梅林镇"."""
    rng = random.Random(seed * 7919 + count)
    counties = [a + b for a in _COUNTY_A for b in _COUNTY_B]
    rng.shuffle(counties)
    towns = [a + b for a in _TOWN_A for b in _TOWN_B]
    names: list[str] = []
    county = 0
    while len(names) < count:
        for town in rng.sample(towns, min(20, count - len(names))):
            names.append(f"{counties[county % len(counties)]}县{town}{'镇' if rng.random() < 0.75 else '乡'}")
        county += 1
    return names


def township_weights(count: int, seed: int) -> list[float]:
    """How busy each township is: log-normal, so some have three times the median's entries."""
    rng = random.Random(seed * 104729 + count)
    return [math.exp(rng.gauss(0.0, 0.5)) for _ in range(count)]


def busiest(params: SeedParams) -> str:
    """The township with the most entries (the entries cases' township)."""
    weights = township_weights(params.townships, params.seed)
    return township_names(params.townships, params.seed)[weights.index(max(weights))]


@dataclass
class Day:
    """One local day's output: entries in chain order (ids ascending, checkpoints' verified_hash
    left None for the hashing step to fill), and the rows they point at."""

    entries: list[tuple[Any, ...]] = field(default_factory=list)
    incidents: list[tuple[Any, ...]] = field(default_factory=list)
    deadlines: list[tuple[Any, ...]] = field(default_factory=list)
    reports: list[tuple[Any, ...]] = field(default_factory=list)


class Generator:
    """Day by day: incidents (about one per 3-4 entries) and township duties create findings; findings
    are reviewed later; a checkpoint opens each day. Entry ids follow recorded_at, as the chain does."""

    def __init__(self, params: SeedParams) -> None:
        self.p = params
        self.rng = random.Random(params.seed)
        self.names = township_names(params.townships, params.seed)
        weights = township_weights(params.townships, params.seed)
        total, self.cum = 0.0, []
        for w in weights:
            total += w
            self.cum.append(total)
        self.rows = RowMaker(self.rng)
        self.heap: list[tuple[int, int, Event]] = []  # (recorded_us, tie, event)
        self.tie = 0
        self.next_id = 1
        self.next_deadline = 1
        self.emitted = 0
        self.findings_in_heap = 0
        # Events recorded after the log's end are never written; the rate control leaves them out.
        self.log_end = local_midnight_us(params.last_day + timedelta(days=1))
        self.beyond = 0
        self.last_checkpoint: int | None = None
        self.verified_through = 0
        self.per_day = params.entries / params.days
        findings = (self.per_day - 1) / (1 + REVIEWS_PER_FINDING)
        self.duty_rates = ar.duty_rates(findings, FINDING_SHARES, params.townships)
        incident_share = sum(FINDING_SHARES[k] for k in INCIDENT_KINDS) / sum(FINDING_SHARES.values())
        self.incidents_per_day = findings * incident_share / ar.ENTRIES_PER_INCIDENT
        # Capped duties (a township misses a month or quarter at most once) give way to incidents.
        self.incidents_per_day += (findings * (1 - incident_share) - self.duty_rates.expected) / (
            ar.ENTRIES_PER_INCIDENT
        )

    def township(self) -> str:
        return self.names[min(self.p.townships - 1, _bisect(self.cum, self.rng.random() * self.cum[-1]))]

    def push(self, recorded_us: int, event: Event) -> None:
        self.tie += 1
        if recorded_us >= self.log_end:
            self.beyond += 1
        elif event.kind not in ("review", "checkpoint"):
            self.findings_in_heap += 1
        heapq.heappush(self.heap, (recorded_us, self.tie, event))

    def days(self) -> Iterator[Day]:
        day = self.p.first_day
        for n in range(self.p.days):
            start = local_midnight_us(day)
            last = n == self.p.days - 1
            yield self._day(day, start, start + DAY_US, n, last)
            if self.emitted >= self.p.entries:
                return
            day += timedelta(days=1)
        raise RuntimeError(f"generated {self.emitted} entries, short of {self.p.entries}")

    def _day(self, day: date, start: int, end: int, n: int, last: bool) -> Day:
        out = Day()
        self.rows.day_key = f"{day:%Y%m%d}"
        self.push(start + 600 * US + self.rng.randrange(60 * US), Event("checkpoint", None, "system", 0))
        # Entries to come: those waiting before the end, and the reviews still to be scheduled that
        # will land before it (a review comes 1-60 days after its finding).
        low, high = REVIEW_DELAY_DAYS
        landing = min(1.0, max(0.0, (self.p.days - n - low) / (high - low)))
        waiting = len(self.heap) - self.beyond
        committed = self.emitted + waiting + REVIEWS_PER_FINDING * landing * self.findings_in_heap
        behind = (n + 1) * self.per_day - committed
        scale = 1 + max(-0.7, min(2.0, 0.2 * behind / self.per_day))
        count = self.incidents_per_day * scale
        for _ in range(ar.poisson(self.rng, count)):
            self.rows.incident(self, out, start)
        self.rows.duties(self, day, start, self.duty_rates)
        # The last day: incidents until exactly `entries` are due by its end; the log is cut there.
        while last and self.emitted + sum(1 for h in self.heap if h[0] < end) < self.p.entries:
            for _ in range(20):
                self.rows.incident(self, out, start)
        while self.heap and self.heap[0][0] < end and self.emitted < self.p.entries:
            recorded, _, event = heapq.heappop(self.heap)
            self._emit(out, recorded, event)
        return out

    def _emit(self, out: Day, recorded: int, event: Event) -> None:
        entry_id = self.next_id
        self.next_id += 1
        self.emitted += 1
        deadline_id = None
        if event.kind == "checkpoint":
            through = entry_id - 1
            event.details = {
                "verified_through": through,
                "verified_hash": None,  # the hash of entry `through`: filled in by the hashing step
                "entries_checked": through - self.verified_through,
                "scope": "since_checkpoint",
                "since": self.last_checkpoint,
            }
            event.occurred_us = recorded
            self.last_checkpoint, self.verified_through = entry_id, through
        elif event.kind == "review":
            event.occurred_us = recorded  # a review happens when it is recorded
            self._after_review(event, entry_id, recorded)
        else:
            self.findings_in_heap -= 1
            if event.deadline is not None:
                deadline_id = self.next_deadline
                self.next_deadline += 1
                out.deadlines.append(event.deadline.row(deadline_id))
            if event.report is not None:
                out.reports.append(event.report)
            self._maybe_review(event, entry_id, recorded)
        report_id = event.report[0] if event.report is not None else None
        out.entries.append(
            (
                entry_id,
                event.kind,
                event.township,
                event.incident_id,
                report_id,
                deadline_id,
                event.refers_to,
                event.responsible,
                event.occurred_us,
                recorded,
                event.delay_seconds,
                event.details,
            )
        )

    def _maybe_review(self, event: Event, entry_id: int, recorded: int) -> None:
        if self.rng.random() >= REVIEWED:
            return
        self.push(self._review_time(recorded), self.rows.review(self, event, entry_id, None, None))

    def _after_review(self, event: Event, entry_id: int, recorded: int) -> None:
        """A first review may be superseded by a later one (an auditor revisiting the section's)."""
        target, kind, previous = event.review_of or (0, "", None)
        if previous is None and self.rng.random() < REREVIEWED:
            again = self.rows.review(self, event, target, entry_id, event.details["decision"], kind=kind)
            self.push(self._review_time(recorded), again)

    def _review_time(self, after: int) -> int:
        low, high = REVIEW_DELAY_DAYS
        return after + self.rng.randrange(low * DAY_US, high * DAY_US)


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum)
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def generate(params: SeedParams) -> Iterator[Day]:
    """Every day's output in order; exactly `params.entries` entries in all."""
    return Generator(params).days()
