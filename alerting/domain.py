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

    def graver_than(self, other: Level) -> bool:
        """Whether this level is the more serious one (I is the gravest)."""
        order = list(Level)
        return order.index(self) < order.index(other)


class ReportType(StrEnum):
    FIRST = "first"  # 首报 / 电话速报
    WRITTEN = "written"  # 书面报告
    FOLLOWUP = "followup"  # 续报
    FINAL = "final"  # 终报
    CORRECTION = "correction"  # 更正


class DeadlineKind(StrEnum):
    # township -> county, per incident
    FIRST_REPORT = "first_report"  # 首报
    WRITTEN_REPORT = "written_report"  # 书面报告
    FOLLOWUP = "followup"  # 续报, one row per slot (seq)
    FINAL_REPORT = "final_report"  # 终报, after the response ends
    CONCEALMENT_CHECK = "concealment_check"  # the county learned of it elsewhere; township must report
    # county side, per incident
    ACK = "ack"  # 值班员签收
    FORWARD_PHONE = "forward_phone"  # 电话上报市委办
    FORWARD_WRITTEN = "forward_written"  # 书面上报市委办
    # township duties, per period
    SILENCE_REMINDER = "silence_reminder"  # N working days without a report: remind
    SILENCE = "silence"  # M working days without a report: silent_unit
    PERIODIC = "periodic"  # a report owed on a schedule (period = "duty:2026-03")
    QUARTER_BALANCE = "quarter_balance"  # quarter end: reports but no problems -> good_news_only
    ASSIGNMENT_REMINDER = "assignment_reminder"  # before an assignment (约稿) is due: remind
    ASSIGNMENT = "assignment"  # an assignment's due time (period = "assignment:<id>")
    OFFICER_VACANCY = (
        "officer_vacancy"  # no information officer for N working days (period = "vacancy:<day>")
    )
    # the county's own roster: its last shift ends within a day (period = "roster:<end>"); a reminder
    ROSTER_GAP = "roster_gap"


class DeadlineState(StrEnum):
    PENDING = "pending"  # not yet due
    ESCALATING = "escalating"  # due and missed; escalation steps are running
    MET = "met"  # the awaited report or action arrived
    EXHAUSTED = "exhausted"  # missed and every escalation step has been sent
    CANCELLED = "cancelled"  # no longer owed (incident closed, level lowered)
    CLEARED = "cleared"  # checked when due and nothing was wrong (quarter balance)


OPEN_DEADLINE_STATES = (DeadlineState.PENDING, DeadlineState.ESCALATING)
TOWNSHIP_DUTIES = frozenset(
    {
        DeadlineKind.SILENCE_REMINDER,
        DeadlineKind.SILENCE,
        DeadlineKind.PERIODIC,
        DeadlineKind.QUARTER_BALANCE,
        DeadlineKind.ASSIGNMENT_REMINDER,
        DeadlineKind.ASSIGNMENT,
        DeadlineKind.OFFICER_VACANCY,
    }
)
COUNTY_DEADLINES = frozenset({DeadlineKind.ACK, DeadlineKind.FORWARD_PHONE, DeadlineKind.FORWARD_WRITTEN})


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
    ASSIGNMENT_OVERDUE = "assignment_overdue"  # 约稿超时
    OFFICER_VACANCY = "officer_vacancy"  # 信息员断档缺人
    REVIEW = "review"  # 审核: an auditor's decision on an earlier entry
    CHECKPOINT = (
        "checkpoint"  # 校验检查点: a verification of the chain, recorded in it (the head it verified)
    )


class ReviewDecision(StrEnum):
    CONFIRM = "confirm"  # 确认
    WAIVE = "waive"  # 免责
    RECLASSIFY = "reclassify"  # 改定性, e.g. 瞒报待核实 -> 瞒报


class EntryStatus(StrEnum):
    PENDING = "pending"  # 待审核: shown, not deducted
    CONFIRMED = "confirmed"  # 已确认 (confirmed or reclassified)
    WAIVED = "waived"  # 已免责


def status_after(decision: ReviewDecision | None) -> EntryStatus:
    """An entry's status once its latest review decided `decision` (None: not reviewed yet)."""
    if decision is None:
        return EntryStatus.PENDING
    return EntryStatus.WAIVED if decision is ReviewDecision.WAIVE else EntryStatus.CONFIRMED


# The entry kinds' names as users read them.
ENTRY_ZH = {
    "late_report": "迟报",
    "missing_report": "漏报",
    "concealment_suspected": "瞒报待核实",
    "erroneous_report": "误报",
    "followup_overdue": "续报超时",
    "unacknowledged": "未及时签收",
    "forward_overdue": "上报超时",
    "silent_unit": "长期未报送",
    "good_news_only": "报喜不报忧",
    "periodic_overdue": "定期报送超时",
    "assignment_overdue": "约稿超时",
    "officer_vacancy": "信息员断档",
    "review": "审核",
    "checkpoint": "校验检查点",
}
# Kinds that are the log's own bookkeeping, not findings about anybody: never listed, counted,
# reviewed, exported or ranked as findings.
BOOKKEEPING_KINDS = frozenset({EntryKind.REVIEW, EntryKind.CHECKPOINT})
# Findings an auditor may reach by reclassifying an entry; 瞒报 and 谎报 exist only as findings.
FINDINGS_ZH = {
    "concealment": "瞒报",
    "false_report": "谎报",
    "late_report": "迟报",
    "missing_report": "漏报",
    "erroneous_report": "误报",
}
RECLASSIFY_TO: dict[EntryKind, frozenset[str]] = {
    EntryKind.CONCEALMENT_SUSPECTED: frozenset({"concealment", "late_report"}),
    EntryKind.ERRONEOUS_REPORT: frozenset({"false_report"}),
    EntryKind.LATE_REPORT: frozenset({"missing_report"}),
    EntryKind.MISSING_REPORT: frozenset({"late_report"}),
}


# What a missed deadline of each kind is recorded as (None: a reminder, no entry).
MISSED_ENTRY_KIND: dict[DeadlineKind, EntryKind | None] = {
    DeadlineKind.FIRST_REPORT: EntryKind.MISSING_REPORT,
    DeadlineKind.WRITTEN_REPORT: EntryKind.MISSING_REPORT,
    DeadlineKind.FOLLOWUP: EntryKind.FOLLOWUP_OVERDUE,
    DeadlineKind.FINAL_REPORT: EntryKind.MISSING_REPORT,
    DeadlineKind.CONCEALMENT_CHECK: EntryKind.CONCEALMENT_SUSPECTED,
    DeadlineKind.ACK: EntryKind.UNACKNOWLEDGED,
    DeadlineKind.FORWARD_PHONE: EntryKind.FORWARD_OVERDUE,
    DeadlineKind.FORWARD_WRITTEN: EntryKind.FORWARD_OVERDUE,
    DeadlineKind.SILENCE_REMINDER: None,
    DeadlineKind.SILENCE: EntryKind.SILENT_UNIT,
    DeadlineKind.PERIODIC: EntryKind.PERIODIC_OVERDUE,
    DeadlineKind.QUARTER_BALANCE: EntryKind.GOOD_NEWS_ONLY,
    DeadlineKind.ASSIGNMENT_REMINDER: None,
    DeadlineKind.ASSIGNMENT: EntryKind.ASSIGNMENT_OVERDUE,
    DeadlineKind.OFFICER_VACANCY: EntryKind.OFFICER_VACANCY,
    DeadlineKind.ROSTER_GAP: None,
}


def responsible_for(kind: DeadlineKind, township: str) -> str:
    """Who answers for a missed deadline: the duty officer, the county office, or the township."""
    if kind is DeadlineKind.ACK:
        return "duty_officer"
    return "county_office" if kind in COUNTY_DEADLINES else township


# Which report types meet an incident's township-side deadline.
MET_BY_REPORT: dict[DeadlineKind, frozenset[ReportType]] = {
    DeadlineKind.FIRST_REPORT: frozenset(ReportType),
    DeadlineKind.CONCEALMENT_CHECK: frozenset(ReportType),
    DeadlineKind.WRITTEN_REPORT: frozenset({ReportType.WRITTEN}),
    DeadlineKind.FOLLOWUP: frozenset({ReportType.FOLLOWUP, ReportType.FINAL}),
    DeadlineKind.FINAL_REPORT: frozenset({ReportType.FINAL}),
}


class Role(StrEnum):
    TOWNSHIP = "township"  # 乡镇/单位, bound to one township
    DUTY_OFFICER = "duty_officer"  # 县委办值班员
    INFO_SECTION = "info_section"  # 县委办信息科
    AUDITOR = "auditor"  # 审计/纪检
    ADMIN = "admin"


class Origin(StrEnum):
    TOWNSHIP = "township"
    COUNTY = "county"


class Provenance(StrEnum):
    """How the county knows who sent a report and when (see consumers/signing.py)."""

    SIGNED = "signed"  # by a key the county issued
    UNSIGNED = "unsigned"  # the broker's receipt time; the township as claimed
    UNRECORDED = "unrecorded"  # stored before messages were signed


# Facts whose change by a correction makes the earlier report erroneous (误报).
KEY_FACTS = ("level", "place", "occurred_at", "deaths", "injured", "missing_persons")


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
    is_problem: bool | None = None  # None: the category's default
    place: str | None = None
    deaths: int | None = None
    injured: int | None = None
    missing_persons: int | None = None
    provenance: Provenance = Provenance.UNRECORDED
    producer_key: str | None = None  # the key that signed it


class ItemStatus(StrEnum):
    """A routine item's life (日常信息): submitted, then one decision of the information section."""

    SUBMITTED = "submitted"  # 已报送, awaiting review (a new version starts here again)
    ADOPTED = "adopted"  # 采用
    RETURNED = "returned"  # 退回: the township may revise and resubmit
    FILED = "filed"  # 存档: kept, not adopted


class ItemDecision(StrEnum):
    ADOPT = "adopt"
    RETURN = "return"
    FILE = "file"


DECISION_STATUS = {
    ItemDecision.ADOPT: ItemStatus.ADOPTED,
    ItemDecision.RETURN: ItemStatus.RETURNED,
    ItemDecision.FILE: ItemStatus.FILED,
}
ITEM_STATUS_ZH = {"submitted": "已报送", "adopted": "已采用", "returned": "已退回", "filed": "已存档"}
ADOPTION_LEVEL_ZH = {"county": "县级", "city": "市级", "province": "省级", "national": "国家级"}


@dataclass(frozen=True, slots=True)
class RoutineItem:
    """One version of a routine item (日常信息), as accepted from the bus."""

    submission_id: str  # makes a retry harmless
    item_id: str  # stable across versions
    township: str
    category: str
    title: str
    text: str
    submitted_at: datetime  # the county's receipt
    reporter: Reporter
    attachments: tuple[str, ...] = ()
    assignment_id: str | None = None
    is_problem: bool | None = None  # None: the category's default
    provenance: Provenance = Provenance.UNRECORDED
    producer_key: str | None = None

    @property
    def reported_at(self) -> datetime:
        """As a report's: the township's duties (silence, periodic) count it the same way."""
        return self.submitted_at

    @property
    def report_id(self) -> str:
        return self.submission_id


class NoticeKind(StrEnum):
    """What the information section sends townships (通报制度)."""

    WORK_UPDATE = "work_update"  # 通报工作动态（县委工作动态及工作部署）
    REPORTING_POINTS = "reporting_points"  # 报送要点（信息采编和报送要点）


NOTICE_KIND_ZH = {"work_update": "通报工作动态", "reporting_points": "报送要点"}

# The six conditions of a township's information network (六有), in the order the county names them.
NETWORK_CONDITIONS = {
    "office": "有办公场所",
    "funding": "有必要经费",
    "equipment": "有设施设备",
    "publications": "有相关刊物",
    "leader": "有分管领导",
    "staff": "有专兼职信息人员",
}
