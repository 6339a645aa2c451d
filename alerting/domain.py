"""Domain vocabulary: levels, report types, deadline and entry kinds, and the report itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Level(StrEnum):
    I = "I"  # noqa: E741  # 特别重大
    II = "II"  # 重大
    III = "III"  # 较大
    IV = "IV"  # 一般


class ReportType(StrEnum):
    FIRST = "first"  # 首报 / 电话速报
    WRITTEN = "written"  # 书面报告
    FOLLOWUP = "followup"  # 续报
    FINAL = "final"  # 终报
    CORRECTION = "correction"  # 更正


class DeadlineKind(StrEnum):
    FIRST_REPORT = "first_report"  # township -> county, first report
    WRITTEN_REPORT = "written_report"  # township -> county, written report
    ACK = "ack"  # county duty officer acknowledges


class DeadlineState(StrEnum):
    PENDING = "pending"  # not yet due
    ESCALATING = "escalating"  # due and missed; escalation steps are running
    MET = "met"  # the awaited report or action arrived
    EXHAUSTED = "exhausted"  # missed and every escalation step has been sent


OPEN_DEADLINE_STATES = (DeadlineState.PENDING, DeadlineState.ESCALATING)


class EntryKind(StrEnum):
    LATE_REPORT = "late_report"  # 迟报
    MISSING_REPORT = "missing_report"  # 漏报
    CONCEALMENT_SUSPECTED = "concealment_suspected"  # 瞒报待核实
    ERRONEOUS_REPORT = "erroneous_report"  # 误报
    FOLLOWUP_OVERDUE = "followup_overdue"  # 续报超时
    UNACKNOWLEDGED = "unacknowledged"  # 未及时签收
    FORWARD_OVERDUE = "forward_overdue"  # 上报超时
    SILENT_UNIT = "silent_unit"  # 长期未报送
    GOOD_NEWS_ONLY = "good_news_only"  # 报喜不报忧
    PERIODIC_OVERDUE = "periodic_overdue"  # 定期报送超时
    REVIEW = "review"


# What a missed deadline of each kind is recorded as.
MISSED_ENTRY_KIND: dict[DeadlineKind, EntryKind] = {
    DeadlineKind.FIRST_REPORT: EntryKind.MISSING_REPORT,
    DeadlineKind.WRITTEN_REPORT: EntryKind.MISSING_REPORT,
    DeadlineKind.ACK: EntryKind.UNACKNOWLEDGED,
}

# Which report type meets a township-side deadline.
MET_BY_REPORT: dict[DeadlineKind, frozenset[ReportType]] = {
    DeadlineKind.FIRST_REPORT: frozenset(ReportType),
    DeadlineKind.WRITTEN_REPORT: frozenset({ReportType.WRITTEN}),
}


class Role(StrEnum):
    TOWNSHIP = "township"
    DUTY_OFFICER = "duty_officer"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Reporter:
    name: str
    phone: str


@dataclass(frozen=True, slots=True)
class Report:
    """One submission about an incident, as accepted from the bus."""

    report_id: str
    incident_id: str
    township: str
    type: ReportType
    category: str
    level: Level
    title: str
    summary: str
    occurred_at: datetime
    known_at: datetime
    reported_at: datetime
    reporter: Reporter
