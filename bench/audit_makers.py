"""What the auditors' benchmark generator makes of one incident, one day's township duties and one
review: events (future entries) with their details as the product writes them, and the incident,
deadline and report rows they point at."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from alerting.domain import RECLASSIFY_TO, EntryKind
from alerting.policy.calendar import month_of, quarter_of
from bench.audit_rows import (
    ACK,
    AUDITORS,
    CATEGORIES,
    DAY,
    ENTRIES_PER_INCIDENT,
    FINAL_AFTER_CLOSE,
    FINDING_SHARES,
    FIRST,
    FOLLOWUP_EVERY,
    FORWARD_WRITTEN,
    HOUR,
    INCIDENT_KINDS,
    INFO_SECTION,
    KEY_FACTS,
    LEVEL_WEIGHTS,
    LEVELS,
    MINUTE,
    REASONS,
    REPORT_TYPE,
    TZ,
    US,
    WRITTEN,
    DeadlineSpec,
    DutyRates,
    Event,
    iso,
    poisson,
    when,
)

if TYPE_CHECKING:
    from bench.audit_gen import Day, Generator

SUMMARY = "现场处置情况续报，原因调查中。"
_KIND_CUM = list(accumulate(FINDING_SHARES[k] for k in INCIDENT_KINDS))
_LEVEL_CUM = list(accumulate(LEVEL_WEIGHTS))


class RowMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.incident_no = 0
        self.assignment_no = 0
        self.day_key = ""

    def between(self, low: int, high: int) -> int:
        """randrange(low, high) at a fraction of its cost (precision is not the point here)."""
        return low + int(self.rng.random() * (high - low))

    # -- incidents ------------------------------------------------------------------------------

    def incident(self, gen: Generator, out: Day, day_start: int) -> None:
        rng = self.rng
        town = gen.township()
        # Daytime-heavy: most incidents become known between 07:00 and 21:00.
        offset = self.between(7 * HOUR, 21 * HOUR) if rng.random() < 0.75 else self.between(0, DAY)
        known = day_start + offset
        occurred = known - self.between(MINUTE, HOUR)
        level = rng.choices(LEVELS, cum_weights=_LEVEL_CUM)[0]
        category = rng.choice(CATEGORIES)
        self.incident_no += 1
        incident_id = f"INC-{self.day_key}-{self.incident_no:08d}"
        kinds = rng.choices(
            INCIDENT_KINDS, cum_weights=_KIND_CUM, k=1 + poisson(rng, ENTRIES_PER_INCIDENT - 1)
        )
        county = "concealment_suspected" in kinds
        opened = known + (self.between(HOUR, 6 * HOUR) if county else 0)
        closed = known + self.between(2 * HOUR, 72 * HOUR)
        acked = known + self.between(MINUTE, 40 * MINUTE)
        title = f"{town.split('县')[-1]}{category}事件"
        out.incidents.append(
            (
                incident_id, town, level, category, title, "closed", "county" if county else "township",
                "12345热线" if county else None, INFO_SECTION[0] if county else None, occurred, known, opened,
                f"{town}某村", 0, rng.randrange(3), 0, acked, "县委办值班员", closed, closed,
            )
        )  # fmt: skip
        base = {"level": level, "category": category}
        used: set[tuple[str, int]] = set()
        followups = 0
        for kind in kinds:
            deadline, seq = self._deadline_for(kind, level, used, followups)
            if deadline == "followup":
                followups = seq
            if kind == "erroneous_report":
                self._erroneous(gen, incident_id, town, level, category, title, known, occurred)
                continue
            if deadline == "followup" and kind not in ("late_report", "followup_overdue"):
                kind = "followup_overdue"  # its own deadline was taken already
            used.add((deadline, seq))
            due = self._due(deadline, seq, level, known, closed)
            responsible = {"unacknowledged": "duty_officer", "forward_overdue": "county_office"}.get(
                kind, town
            )
            if kind == "late_report":
                delay = int(min(3 * 86400, max(60, rng.lognormvariate(math.log(1200), 1.0))))
                arrived = due + delay * US
                rtype = REPORT_TYPE[deadline]
                report_id = f"{incident_id}-{rtype}-{seq}"
                report = (
                    report_id, incident_id, rtype, town, category, level, title, SUMMARY,
                    occurred, known, arrived, "张三", "0791-88888888", f"{town}某村", 0, 0, 0, True,
                    arrived + self.between(20_000, 2 * US), delay, "signed", "township-key",
                )  # fmt: skip
                details = {"deadline": deadline, "due_at": iso(due), "arrived_at": iso(arrived)}
                details |= {"report_type": rtype, "level": level}
                spec = DeadlineSpec(incident_id, town, deadline, seq, None, due, arrived, report_id, None)
                gen.push(
                    report[18],
                    Event(kind, town, town, arrived, incident_id, report, spec, None, delay, details),
                )
                continue
            details = {"deadline": deadline, "due_at": iso(due), **base}
            if deadline == "followup":
                details["followup_number"] = seq
            spec = DeadlineSpec(incident_id, town, deadline, seq, None, due, None, None, None)
            recorded = due + self.between(5_000, 3 * US // 2)
            gen.push(recorded, Event(kind, town, responsible, due, incident_id, None, spec, details=details))

    def _deadline_for(
        self, kind: str, level: str, used: set[tuple[str, int]], followups: int
    ) -> tuple[str, int]:
        rng = self.rng
        options: tuple[str, ...]
        if kind == "late_report":
            options = rng.choices(
                ("first_report", "written_report", "followup", "final_report"), (35, 35, 20, 10)
            )
        elif kind == "missing_report":
            options = tuple(rng.sample(("first_report", "written_report", "final_report"), 3))
        elif kind == "unacknowledged":
            options = ("ack",)
        elif kind == "forward_overdue":
            options = ("forward_phone", "forward_written") if level in ("I", "II") else ("forward_written",)
        elif kind == "concealment_suspected":
            options = ("concealment_check",)
        elif kind == "erroneous_report":
            return "", 0
        else:
            options = ()
        for option in options:
            if option != "followup" and (option, 0) not in used:
                return option, 0
        return "followup", followups + 1

    def _due(self, deadline: str, seq: int, level: str, known: int, closed: int) -> int:
        minutes = {
            "first_report": FIRST[level],
            "written_report": WRITTEN[level],
            "ack": ACK[level],
            "forward_phone": 30,
            "forward_written": FORWARD_WRITTEN[level],
            "concealment_check": 60,
            "followup": FOLLOWUP_EVERY[level] * seq,
        }
        if deadline == "final_report":
            return closed + FINAL_AFTER_CLOSE[level] * MINUTE
        return known + minutes[deadline] * MINUTE

    def _erroneous(
        self,
        gen: Generator,
        incident_id: str,
        town: str,
        level: str,
        category: str,
        title: str,
        known: int,
        occurred: int,
    ) -> None:
        """误报: a correction that changed a key fact (consumers/intake.py `_record_corrections`)."""
        rng = self.rng
        field = rng.choice(KEY_FACTS)
        before: Any = {"level": level, "place": f"{town}某村"}.get(field, 0)
        after: Any = {"level": "III" if level != "III" else "IV", "place": f"{town}另一村"}.get(field, 1)
        reported = known + self.between(HOUR, 48 * HOUR)
        report_id = f"{incident_id}-correction-{rng.randrange(10**9)}"
        report = (
            report_id, incident_id, "correction", town, category, level, title, "更正：核实后的情况。",
            occurred, known, reported, "张三", "0791-88888888", f"{town}某村", 0, 0, 0, True,
            reported + self.between(20_000, 2 * US), None, "signed", "township-key",
        )  # fmt: skip
        details = {"fields": [field], "before": {field: before}, "after": {field: after}}
        gen.push(
            report[18], Event("erroneous_report", town, town, reported, incident_id, report, details=details)
        )

    # -- township duties -----------------------------------------------------------------------

    def duties(self, gen: Generator, day: date, start: int, rates: DutyRates) -> None:
        rng = self.rng
        for _ in range(poisson(rng, rates.silent)):
            due = start + self.between(0, DAY)
            since = due - 21 * DAY - self.between(0, 2 * DAY)
            self._duty(
                gen,
                "silent_unit",
                gen.township(),
                "silence",
                f"since:{iso(since)}",
                due,
                {"since": iso(since)},
            )
        for _ in range(poisson(rng, rates.assignment)):
            self.assignment_no += 1
            aid = f"YG{day.year}-{self.assignment_no:07d}"
            context = {"assignment_id": aid, "title": "关于报送重点工作进展情况的约稿"}
            due = start + self.between(8 * HOUR, 18 * HOUR)
            self._duty(
                gen, "assignment_overdue", gen.township(), "assignment", f"assignment:{aid}", due, context
            )
        vacant: set[str] = set()
        for _ in range(poisson(rng, rates.vacancy)):
            town = gen.township()
            if town in vacant:
                continue
            vacant.add(town)
            since = (day - timedelta(days=7)).isoformat()
            context = {"title": "信息员断档", "vacant_since": since}
            self._duty(gen, "officer_vacancy", town, "officer_vacancy", f"vacancy:{since}", start, context)
        local_noon = when(start + 12 * HOUR)
        if day.day == 16:  # key_project_progress is due by the 15th
            month = month_of(local_noon, TZ)
            context = {
                "duty": "key_project_progress",
                "title": "重点项目进展",
                "period_start": month.start.isoformat(),
            }
            for town in self._missing(gen, rates.periodic):
                self._duty(
                    gen,
                    "periodic_overdue",
                    town,
                    "periodic",
                    f"key_project_progress:{month.key}",
                    start,
                    context,
                )
        before = when(start - 12 * HOUR)
        if day.day == 1 and day > gen.p.first_day:  # public_opinion is due at the month's end
            month = month_of(before, TZ)
            context = {"duty": "public_opinion", "title": "社情民意", "period_start": month.start.isoformat()}
            for town in self._missing(gen, rates.periodic):
                period = f"public_opinion:{month.key}"
                self._duty(
                    gen, "periodic_overdue", town, "periodic", period, start, context, judged=month.key
                )
        if day.day == 1 and day.month in (1, 4, 7, 10) and day > gen.p.first_day:
            quarter = quarter_of(before, TZ)
            for town in self._missing(gen, rates.balance):
                balance = {"reports": self.between(1, 30), "problem_reports": 0, "items": rng.randrange(10)}
                balance["problem_items"] = 0
                context = {"quarter_start": quarter.start.isoformat()}
                self._duty(
                    gen,
                    "good_news_only",
                    town,
                    "quarter_balance",
                    quarter.key,
                    start,
                    context,
                    balance,
                    quarter.key,
                )

    def _missing(self, gen: Generator, p: float) -> list[str]:
        return [town for town in gen.names if self.rng.random() < p]

    def _duty(
        self,
        gen: Generator,
        kind: str,
        town: str,
        deadline: str,
        period: str,
        due: int,
        context: dict[str, Any],
        balance: dict[str, int] | None = None,
        judged: str | None = None,
    ) -> None:
        """A missed township duty, as escalation/engine.py `_entry` records it (dated at the end of
        the period it judges when it falls due just after it)."""
        details: dict[str, Any] = {
            "deadline": deadline,
            "due_at": iso(due),
            "period": period,
            "context": context,
        }
        if balance:
            details.update(balance)
        occurred = due
        if judged is not None:
            details["judged_period"] = judged
            occurred = due - 1
        spec = DeadlineSpec(None, town, deadline, 0, period, due, None, None, context)
        recorded = due + self.between(5_000, 3 * US // 2)
        gen.push(recorded, Event(kind, town, town, occurred, None, None, spec, details=details))

    # -- reviews ---------------------------------------------------------------------------------

    def review(
        self,
        gen: Generator,
        target: Event,
        target_id: int,
        previous: int | None,
        previous_decision: str | None,
        kind: str | None = None,
    ) -> Event:
        """A review as alerting/accountability/append.py `append_review` writes it."""
        rng = self.rng
        reviewed_kind = kind or target.kind
        role = "auditor" if previous is not None or rng.random() < 0.4 else "info_section"
        reviewer = rng.choice(AUDITORS if role == "auditor" else INFO_SECTION)
        roll = rng.random()
        allowed = sorted(RECLASSIFY_TO.get(EntryKind(reviewed_kind), ()))
        decision = "waive" if roll < 0.25 else "reclassify" if roll < 0.30 and allowed else "confirm"
        before = (
            "pending"
            if previous_decision is None
            else "waived"
            if previous_decision == "waive"
            else "confirmed"
        )
        details: dict[str, Any] = {
            "decision": decision,
            "reason": rng.choice(REASONS[decision]),
            "reviewed_kind": reviewed_kind,
            "status_before": before,
            "reviewer_role": role,
        }
        if decision == "reclassify":
            details["to"] = rng.choice(allowed)
        if previous is not None:
            details["supersedes"] = previous
        return Event(
            "review",
            target.township,
            reviewer,
            0,
            target.incident_id,
            refers_to=target_id,
            details=details,
            review_of=(target_id, reviewed_kind, previous),
        )
