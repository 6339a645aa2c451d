"""The county's rules as validated data: levels, categories, escalation chains, duties and scoring."""

from __future__ import annotations

import functools
from datetime import time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting.domain import DeadlineKind, EntryKind, Level
from alerting.policy.calendar import CalendarPolicy
from alerting.policy.channels import Channel
from alerting.policy.durations import LONGEST, Duration
from alerting.policy.roster import ROLES, RosterPolicy, Township


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LocalTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class FollowupRule(_Strict):
    """续报 cadence: every `every` for the first `for`, then daily at the local times `at`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    every: Duration | None = None
    for_: Duration = Field(default=timedelta(0), alias="for")
    at: tuple[LocalTime, ...] = ()

    @model_validator(mode="after")
    def _coherent(self) -> FollowupRule:
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError("every must be positive")
        if self.for_ and self.every is None:
            raise ValueError("`for` needs `every`")
        if self.every is not None and not self.for_:
            raise ValueError("`every` needs `for` (how long the interval applies)")
        if self.every is None and not self.at:
            raise ValueError("give `every` (with `for`) and/or `at`")
        return self

    def local_times(self) -> tuple[time, ...]:
        return tuple(sorted(time.fromisoformat(t) for t in self.at))


class LevelRules(_Strict):
    """Limits for one incident level."""

    clock_starts: Literal["known_at", "occurred_at"] = "known_at"
    first_report: Duration
    written_report: Duration
    ack: Duration
    followup: FollowupRule | None = None
    final_report: Duration = timedelta(hours=72)
    forward_phone: Duration | None = None  # county -> city by phone, from when the county heard of it
    forward_written: Duration | None = None


Stream = Literal["urgent", "routine"]
STREAM_ZH = {"urgent": "紧急信息", "routine": "日常信息"}
_LIMITS = ("clock_starts", "first_report", "written_report", "ack", "followup", "final_report")


class CategoryRules(_Strict):
    """One category of the catalogue: its stream, whether it reports a problem, and, for urgent ones,
    overrides of the level's limits (unset keys keep the level's)."""

    # urgent: an incident with clocks (紧急信息); routine: an item the information section reviews
    # (日常信息: 工作动态, 经验做法, 社情民意, ...), with no urgent clocks.
    stream: Stream = "urgent"
    clock_starts: Literal["known_at", "occurred_at"] | None = None
    first_report: Duration | None = None
    written_report: Duration | None = None
    ack: Duration | None = None
    followup: FollowupRule | None = None
    final_report: Duration | None = None
    problem: bool = True  # whether its reports count as reporting a problem or risk (喜忧兼报)

    @model_validator(mode="after")
    def _routine_has_no_clocks(self) -> CategoryRules:
        if self.stream == "routine" and (given := [k for k in _LIMITS if getattr(self, k) is not None]):
            raise ValueError(f"a routine category has no urgent limits; remove {', '.join(given)}")
        return self


class IntakeRules(_Strict):
    # Whether a message written to the topic without a county key's signature is stored (with the
    # broker's receipt time, the township as claimed, marked unsigned) or sent to the DLQ.
    accept_unsigned: bool = False


class AssignmentRules(_Strict):
    """约稿: reminders this long before an assignment's due time (16h before the end of the due day
    is 08:00 on it)."""

    remind_before: tuple[Duration, ...] = (timedelta(days=2), timedelta(hours=16))


class OfficerRules(_Strict):
    """信息员队伍: a township left without an active officer (after a registered term ends) for this
    many working days writes officer_vacancy (断档缺人)."""

    vacancy_after_working_days: int = Field(default=5, ge=1, le=365)


class AccountRules(_Strict):
    """People's accounts on the web pages: a password wrong this many times in a row locks the
    account until an admin unlocks it (each failure before that also makes the next try wait longer)."""

    lock_after_failures: int = Field(default=5, ge=2, le=100)


class SilenceRules(_Strict):
    remind_after_working_days: int = Field(default=10, ge=1, le=365)
    flag_after_working_days: int = Field(default=15, ge=1, le=365)

    @model_validator(mode="after")
    def _ordered(self) -> SilenceRules:
        if self.flag_after_working_days <= self.remind_after_working_days:
            raise ValueError("flag_after_working_days must be after remind_after_working_days")
        return self


class PeriodicDuty(_Strict):
    """A report each township owes on a schedule, met by a report in one of `categories`."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    title: str
    categories: tuple[str, ...] = Field(min_length=1)
    schedule: Literal["monthly", "quarterly"] = "monthly"
    due_day: int | None = Field(default=None, ge=1, le=31)  # by this day of the period's first month


class BalanceRules(_Strict):
    """报喜不报忧: flag a township whose reports in a quarter include no problem or risk."""

    enabled: bool = True


class Step(_Strict):
    """One escalation step: who is told, through which channels, how long after the deadline."""

    after: Duration
    roles: tuple[str, ...] = ()
    channels: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_roles(self) -> Step:
        if unknown := [r for r in self.roles if r not in ROLES]:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}; the roles are: {', '.join(ROLES)}")
        return self


class Repeat(_Strict):
    every: Duration
    times: int = Field(ge=0, le=100)


class Chain(_Strict):
    """Steps run in order from the moment a deadline is missed; the last may repeat."""

    steps: tuple[Step, ...] = Field(min_length=1)
    repeat_last: Repeat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Chain:
        afters = [s.after for s in self.steps]
        if afters != sorted(afters):
            raise ValueError("steps must be in order of `after`")
        if self.repeat_last and afters[-1] + self.repeat_last.every * self.repeat_last.times > LONGEST:
            raise ValueError(f"escalation would run longer than {LONGEST.days} days")
        return self

    def offsets(self) -> list[tuple[int, timedelta]]:
        """(step index, delay after the deadline) for every notification round, repeats included."""
        return list(self._offsets)

    @functools.cached_property
    def _offsets(self) -> tuple[tuple[int, timedelta], ...]:
        # Asked once per fired deadline: thousands of times in a burst, always the same answer.
        rounds = [(i, s.after) for i, s in enumerate(self.steps)]
        if self.repeat_last:
            last_index, last_after = rounds[-1]
            for n in range(1, self.repeat_last.times + 1):
                rounds.append((last_index, last_after + n * self.repeat_last.every))
        return tuple(rounds)


class ScoringRules(_Strict):
    """Quarterly bulletin and year-end ranking (一季一通报，年终总排队): points and deductions."""

    base: float = 100
    adoption: dict[Literal["county", "city", "province", "national"], float] = {
        "county": 1,
        "city": 3,
        "province": 5,
        "national": 10,
    }
    # Per confirmed finding; unreviewed candidates are shown but not deducted.
    deductions: dict[str, float] = {
        "late_report": 2,
        "missing_report": 5,
        "concealment": 10,
        "false_report": 10,
        "erroneous_report": 2,
        "followup_overdue": 1,
        "silent_unit": 3,
        "good_news_only": 2,
        "periodic_overdue": 1,
        "assignment_overdue": 1,
        "officer_vacancy": 1,
    }
    # Kinds that count as confirmed without an auditor's review (an auditor may still waive them).
    auto_confirm: tuple[EntryKind, ...] = ()
    # How long into the next period the bulletin waits before it is published (frozen) by itself:
    # time for auditors to review the last candidates. The draft can be read at any time.
    publish_after: Duration = timedelta(days=10)


class Policy(_Strict):
    """The whole validated policy."""

    timezone: str = "Asia/Shanghai"
    ack_link_ttl: Duration = timedelta(hours=24)
    levels: dict[Level, LevelRules]
    categories: dict[str, CategoryRules] = {}
    escalation: dict[str, Chain]
    channels: dict[str, Channel] = Field(min_length=1)
    # Where to raise the alarm when a notification cannot be delivered after all its attempts.
    delivery_failure_channels: tuple[str, ...] = ()
    townships: dict[str, Township] = {}
    intake: IntakeRules = IntakeRules()
    roster: RosterPolicy = RosterPolicy()
    calendar: CalendarPolicy = CalendarPolicy()
    silence: SilenceRules = SilenceRules()
    periodic: tuple[PeriodicDuty, ...] = ()
    assignments: AssignmentRules = AssignmentRules()
    officers: OfficerRules = OfficerRules()
    accounts: AccountRules = AccountRules()
    balance: BalanceRules = BalanceRules()
    scoring: ScoringRules = ScoringRules()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def rules_for(self, level: Level, category: str) -> LevelRules:
        """The level's limits with the category's overrides applied."""
        base = self.levels[level]
        override = self.categories.get(category)
        if override is None:
            return base
        changes = override.model_dump(exclude_none=True, exclude={"problem"})
        return base.model_copy(update={k: getattr(override, k) for k in changes})

    def is_problem(self, category: str, stated: bool | None) -> bool:
        if stated is not None:
            return stated
        override = self.categories.get(category)
        return override.problem if override else True

    def stream_of(self, category: str) -> Stream | None:
        """The category's stream; None if the catalogue does not know it (an empty catalogue takes
        every category for urgent, as before there was one)."""
        if not self.categories:
            return "urgent"
        rules = self.categories.get(category)
        return rules.stream if rules else None

    def category_refusal(self, category: str, stream: Stream) -> str | None:
        """Why `category` cannot be submitted on `stream` (Chinese, then English), or None."""
        found = self.stream_of(category)
        if found == stream:
            return None
        if found is None:
            known = "、".join(name for name, r in self.categories.items() if r.stream == stream)
            return (
                f"未知类别 {category}，可选：{known} / unknown category {category}; "
                f"the {stream} categories are: {known}"
            )
        where, kind, what = (
            ("POST /api/v1/items", "a routine", "a routine item")
            if found == "routine"
            else ("POST /api/v1/reports", "an urgent", "an urgent report")
        )
        return (
            f"{category} 属于{STREAM_ZH[found]}，请按{STREAM_ZH[found]}报送（{where}）/ "
            f"{category} is {kind} category: submit it as {what} ({where})"
        )

    @model_validator(mode="after")
    def _duties_are_routine(self) -> Policy:
        for duty in self.periodic if self.categories else ():
            urgent = [c for c in duty.categories if self.stream_of(c) != "routine"]
            if urgent:
                raise ValueError(
                    f"periodic duty {duty.name}: {', '.join(urgent)} must be routine categories of the "
                    "catalogue (a periodic duty is met by routine items)"
                )
        return self

    def in_directory(self, township: str) -> bool:
        """Whether the county knows this township (an empty directory admits every name)."""
        return not self.townships or township in self.townships

    def chain_for(self, kind: DeadlineKind) -> Chain:
        return self.escalation.get(kind.value) or self.escalation["default"]
