"""The county's rules as data: load, expand ${ENV} references, and validate the policy TOML file."""

from __future__ import annotations

import functools
import itertools
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alerting.calendar import CalendarPolicy
from alerting.channels import Channel
from alerting.domain import DeadlineKind, EntryKind, Level
from alerting.durations import LONGEST, Duration
from alerting.errors import PolicyError
from alerting.roster import RosterPolicy, Township, load_shifts_csv


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


class CategoryRules(_Strict):
    """Overrides for one category (public health, natural disasters, ...); unset keys keep the level's."""

    clock_starts: Literal["known_at", "occurred_at"] | None = None
    first_report: Duration | None = None
    written_report: Duration | None = None
    ack: Duration | None = None
    followup: FollowupRule | None = None
    final_report: Duration | None = None
    problem: bool = True  # whether its reports count as reporting a problem or risk (喜忧兼报)


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
    }
    # Kinds that count as confirmed without an auditor's review (an auditor may still waive them).
    auto_confirm: tuple[EntryKind, ...] = ()


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
    roster: RosterPolicy = RosterPolicy()
    calendar: CalendarPolicy = CalendarPolicy()
    silence: SilenceRules = SilenceRules()
    periodic: tuple[PeriodicDuty, ...] = ()
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

    def chain_for(self, kind: DeadlineKind) -> Chain:
        return self.escalation.get(kind.value) or self.escalation["default"]


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(node: Any, env: Mapping[str, str], path: str) -> Any:
    if isinstance(node, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env or env[name] == "":
                raise PolicyError(f"environment variable {name} is not set", key=path)
            return env[name]

        return _ENV_REF.sub(sub, node)
    if isinstance(node, dict):
        return {k: _expand_env(v, env, f"{path}.{k}" if path else k) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, env, f"{path}[{i}]") for i, v in enumerate(node)]
    return node


def _header(keys: list[str]) -> re.Pattern[str]:
    parts = [f'(?:"{re.escape(k)}"|{re.escape(k)})' for k in keys]
    return re.compile(r"^\s*\[\[?\s*" + r"\s*\.\s*".join(parts) + r"\s*\]\]?")


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort 1-based line of the key at `loc` in the TOML source (its table header if absent)."""
    lines = text.splitlines()
    any_header = re.compile(r"^\s*\[")
    parts = list(loc)
    for cut in range(len(parts), -1, -1):
        head, rest = parts[:cut], parts[cut:]
        if not all(isinstance(p, str) for p in head):
            continue
        start, end = 0, len(lines)
        if head:
            found = [i for i, ln in enumerate(lines) if _header([str(p) for p in head]).match(ln)]
            if not found:
                continue
            index = 0
            if rest and isinstance(rest[0], int):  # the n-th [[array.of.tables]]
                index, rest = rest[0], rest[1:]
            start = found[min(index, len(found) - 1)]
            end = next((i for i in range(start + 1, len(lines)) if any_header.match(lines[i])), len(lines))
        else:
            end = next((i for i, ln in enumerate(lines) if any_header.match(ln)), len(lines))
        line: int | None = start if head else None
        skip = 0  # an index into an inline array: the key's (skip+1)-th occurrence
        for part in rest:
            if isinstance(part, int):
                skip = part
                continue
            pattern = re.compile(r'(^|[\s{,])"?' + re.escape(part) + r'"?\s*=')
            hits = (
                i
                for i in range((line or 0) + (1 if line is not None and skip else 0), end)
                if pattern.search(lines[i])
            )
            hit = next(itertools.islice(hits, skip, None), None)
            skip = 0
            if hit is None:
                break
            line = hit
        if line is not None:
            return line + 1
    return None


def _reference_errors(policy: Policy) -> tuple[str, str] | None:
    """Checks across sections that a field validator cannot see: (key, message) of the first failure."""
    for level in Level:
        if level not in policy.levels:
            return f"levels.{level.value}", "this level is missing; all of I, II, III, IV are required"
    if "default" not in policy.escalation:
        return "escalation.default", "a default escalation chain is required"
    try:
        ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return "timezone", f"unknown time zone {policy.timezone!r}"
    for i, channel in enumerate(policy.delivery_failure_channels):
        if channel not in policy.channels:
            return f"delivery_failure_channels.{i}", f"channel {channel!r} is not defined"
    names = [d.name for d in policy.periodic]
    for i, name in enumerate(names):
        if name in names[:i]:
            return f"periodic.{i}.name", f"duty {name!r} is defined twice"
    known = {"default", *(k.value for k in DeadlineKind)}
    for name, chain in policy.escalation.items():
        if name not in known:
            return f"escalation.{name}", f"not a deadline kind; use one of {', '.join(sorted(known))}"
        for i, step in enumerate(chain.steps):
            for channel in step.channels:
                if channel not in policy.channels:
                    return f"escalation.{name}.steps.{i}.channels", f"channel {channel!r} is not defined"
    return None


def _path(key: str | None) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in key.split(".")) if key else ()


def parse_policy(text: str, env: Mapping[str, str] | None = None, source: str = "policy") -> Policy:
    """Validate policy TOML `text`; every failure is a PolicyError naming the key."""

    def located(message: str, loc: tuple[int | str, ...]) -> PolicyError:
        key = ".".join(str(p) for p in loc) or None
        return PolicyError(message, key=key, line=_line_of(text, loc))

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        raise PolicyError(
            f"{source} is not valid TOML: {exc}", line=int(at.group(1)) if at else None
        ) from None
    try:
        raw = _expand_env(raw, os.environ if env is None else env, "")
        policy = Policy.model_validate(raw)
    except PolicyError as exc:
        raise located(exc.reason, _path(exc.key)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise located(first["msg"], tuple(p for p in first["loc"] if p != "[key]")) from None
    problem = _reference_errors(policy)
    if problem:
        key, message = problem
        raise located(message, _path(key))
    return policy


def load_policy(path: Path, env: Mapping[str, str] | None = None) -> Policy:
    """Read, validate, and load the duty-roster CSV it names (relative to the policy file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror}") from None
    policy = parse_policy(text, env, source=str(path))
    if policy.roster.csv is None:
        return policy
    csv_path = policy.roster.csv if policy.roster.csv.is_absolute() else path.parent / policy.roster.csv
    try:
        shifts = load_shifts_csv(csv_path, policy.tz)
    except (OSError, ValueError) as exc:
        raise PolicyError(str(exc), key="roster.csv", line=_line_of(text, ("roster", "csv"))) from None
    roster = policy.roster.model_copy(update={"shifts": (*policy.roster.shifts, *shifts), "csv": csv_path})
    return policy.model_copy(update={"roster": roster})
