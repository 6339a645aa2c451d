"""Who a role means right now: the duty roster (值班表), the fixed posts and the township directory."""

from __future__ import annotations

import csv
import io
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

# The roles an escalation step may name, with the post each one means.
ROLES: Mapping[str, str] = {
    "duty_officer": "值班员",
    "leader_on_duty": "带班领导",
    "section_chief": "信息科负责人",
    "director": "县委办主任",
    "township_leader": "乡镇负责人",
    "township_officer": "乡镇信息员",  # the active term in the officers' register
}


def addressed(role: str, name: str) -> str:
    """How a message names a person: the post, then the name ("值班员王小明"); a name written with
    its office ("县委办 陈主任") already says the post and stands alone."""
    if any(ch.isspace() for ch in name.strip()):
        return name.strip()
    return f"{ROLES.get(role, role)}{name}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A Feishu open_id (ou_…) or user_id: letters, digits, "_" and "-", so that it cannot break out of
# the <at id=…> tag a Feishu card mentions it in.
FEISHU_USER_ID = r"[A-Za-z0-9_-]{1,64}"  # for re.fullmatch


def phone_key(phone: str) -> str:
    """A phone number as the directory's Feishu ids are keyed: its digits, a mainland mobile without
    +86 ("+86 138-0000-0001" and "13800000001" are one key)."""
    digits = re.sub(r"\D", "", phone)
    mobile = re.fullmatch(r"(?:86)?(1\d{10})", digits)
    return mobile.group(1) if mobile else digits


class Person(_Strict):
    # Stripped first so that a blank cell or "  " is an empty name, not a person.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=50)
    phone: str = Field(min_length=3, max_length=40, pattern=r"^[0-9+\-() ]+$")
    # Left out of dumps: the policy's ids are read from the policy at each load (escalation/
    # directory.py), never seeded, so they leave the seeded directory's fingerprint as it was.
    feishu_user_id: str | None = Field(default=None, pattern=f"^{FEISHU_USER_ID}$", exclude=True)


class Shift(_Strict):
    """One duty shift, [start, end): a moment equal to `end` belongs to the next shift."""

    start: AwareDatetime
    end: AwareDatetime
    duty_officer: Person
    leader_on_duty: Person | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Shift:
        if self.end <= self.start:
            raise ValueError("a shift must end after it starts")
        return self


class Township(_Strict):
    leader: Person


class RosterPolicy(_Strict):
    """The policy's [roster] section.

    Shifts come from `shifts` (inline, times with an offset) and from the `csv` file, which
    the caller loads with `load_shifts_csv`; a relative `csv` path is the caller's to resolve.
    Where shifts overlap, the one that started last wins (on equal starts, the one listed
    last, CSV after inline): a short swap entered over a regular shift takes precedence.
    """

    shifts: tuple[Shift, ...] = ()
    csv: Path | None = None
    section_chief: Person | None = None
    director: Person | None = None
    # For moments no shift covers, e.g. the office's 24-hour duty phone.
    fallback_duty_officer: Person | None = None


_COLUMNS = ("开始", "结束", "值班员", "值班员电话", "带班领导", "带班领导电话")


def _parse_time(text: str, tz: ZoneInfo) -> datetime:
    try:
        if ":" not in text:  # a bare date would otherwise mean midnight without anyone noticing
            raise ValueError
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            # Excel on a Chinese system saves "2026-11-26 08:30" back as "2026/11/26 8:30".
            value = datetime.strptime(text, "%Y/%m/%d %H:%M")
    except ValueError:
        raise ValueError(f"{text!r} is not a time like 2026-11-26 08:30 or 2026-11-26T08:30+08:00") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


class _CellError(ValueError):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _person(row: Mapping[str, str], name_col: str, phone_col: str) -> Person | None:
    name, phone = row[name_col].strip(), row[phone_col].strip()
    if not name and not phone:
        return None
    if not name:
        raise _CellError(name_col, "name is missing")
    if not phone:
        raise _CellError(phone_col, "phone is missing")
    try:
        return Person(name=name, phone=phone)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _CellError(name_col if first["loc"] == ("name",) else phone_col, first["msg"]) from None


def _shift(row: Mapping[str, str], tz: ZoneInfo) -> Shift:
    times: list[datetime] = []
    for column in ("开始", "结束"):
        try:
            times.append(_parse_time(row[column].strip(), tz))
        except ValueError as exc:
            raise _CellError(column, str(exc)) from None
    start, end = times
    if end <= start:
        raise _CellError("结束", f"the shift ends ({end}) no later than it starts ({start})")
    officer = _person(row, "值班员", "值班员电话")
    if officer is None:
        raise _CellError("值班员", "name is missing")
    return Shift(
        start=start, end=end, duty_officer=officer, leader_on_duty=_person(row, "带班领导", "带班领导电话")
    )


def load_shifts_csv(path: Path, tz: ZoneInfo) -> tuple[Shift, ...]:
    """Shifts from the office's CSV roster file (see `parse_shifts_csv`); an unreadable file raises
    OSError."""
    return parse_shifts_csv(path.read_bytes(), tz, str(path))


def parse_shifts_csv(data: bytes, tz: ZoneInfo, path: str = "roster.csv") -> tuple[Shift, ...]:
    """Shifts from the office's CSV roster (UTF-8, with or without the BOM Excel writes).

    The header row must hold the columns 开始,结束,值班员,值班员电话,带班领导,带班领导电话 (any
    order; other columns are ignored). Times without an offset are local time in `tz`; the
    带班领导 columns may be empty; blank rows are skipped. Any bad row is a ValueError naming
    `path`, the line and the column.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{path}: line {line}: not UTF-8; in Excel save it as 'CSV UTF-8 (逗号分隔)'"
        ) from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip() for cell in next(rows, [])]
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}: line 1: header lacks column(s) {', '.join(missing)}")
    shifts: list[Shift] = []
    for cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        row = {column: (cells[i] if i < len(cells) else "") for i, column in enumerate(header)}
        try:
            shifts.append(_shift(row, tz))
        except _CellError as exc:
            raise ValueError(f"{path}: line {rows.line_num}, column {exc.column}: {exc.reason}") from None
    return tuple(shifts)


@dataclass(frozen=True, slots=True)
class OfficerTerm:
    """A township information officer's term, by local dates; `ends_on` is its last day."""

    starts_on: date
    ends_on: date | None
    person: Person

    def covers(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person to notify and the capacity (role) in which they are told."""

    role: str
    name: str
    phone: str
    feishu_user_id: str | None = None  # what a Feishu bot mentions; never guessed


class Directory:
    """Resolves role names to people at a given moment."""

    def __init__(
        self,
        roster: RosterPolicy,
        *,
        csv_shifts: Sequence[Shift] = (),
        townships: Mapping[str, Township] | None = None,
        officers: Mapping[str, Sequence[OfficerTerm]] | None = None,
        tz: ZoneInfo | None = None,
        feishu_ids: Mapping[str, str | None] | None = None,
    ) -> None:
        """`tz` is the county's: an officer's term is in local dates (needed with `officers`).
        `feishu_ids` maps a phone_key to the person's Feishu id (None: cleared), over the ids the
        people themselves carry."""
        self._roster = roster
        self._feishu_ids = dict(feishu_ids or {})
        self._townships = dict(townships or {})
        self._officers = {town: list(terms) for town, terms in (officers or {}).items()}
        self._tz = tz
        # Stable sort: on equal starts the shift listed later (CSV after inline) sits later and wins.
        self._shifts = sorted((*roster.shifts, *csv_shifts), key=lambda s: s.start)
        self._starts = [s.start for s in self._shifts]
        # _reach[i]: the latest end among shifts[0..i], so a backward scan knows when to stop.
        self._reach: list[datetime] = []
        for shift in self._shifts:
            self._reach.append(max(self._reach[-1], shift.end) if self._reach else shift.end)

    def _shifts_at(self, at: datetime) -> Iterator[Shift]:
        """The shifts covering `at` (start inclusive, end exclusive), the last started first."""
        i = bisect_right(self._starts, at)
        while i and self._reach[i - 1] > at:
            i -= 1
            if self._shifts[i].end > at:
                yield self._shifts[i]

    def resolve(
        self, roles: Sequence[str], at: datetime, township: str | None = None
    ) -> tuple[list[Recipient], list[str]]:
        """(recipients in the order of `roles`, role names that resolved to nobody).

        A role is unresolved when it is unknown, when no shift covers `at` and there is no
        fallback duty officer, when no covering shift names a 带班领导 (the last started that does
        is the leader), when the post is not
        configured, or when `township` is None or has no leader (or no officer in a term covering
        the local day of `at`, for township_officer). A role listed twice counts
        once; one person in two roles is a recipient once per role.
        """
        if at.tzinfo is None:
            raise ValueError("resolve needs a timezone-aware moment")
        recipients: list[Recipient] = []
        unresolved: list[str] = []
        for role in dict.fromkeys(roles):
            person = self._person(role, at, township)
            if person is None:
                unresolved.append(role)
            else:
                feishu_id = person.feishu_user_id
                if self._feishu_ids:
                    feishu_id = self._feishu_ids.get(phone_key(person.phone), feishu_id)
                recipients.append(Recipient(role, person.name, person.phone, feishu_id))
        return recipients, unresolved

    def _person(self, role: str, at: datetime, township: str | None) -> Person | None:
        if role == "duty_officer":
            shift = next(self._shifts_at(at), None)
            return shift.duty_officer if shift else self._roster.fallback_duty_officer
        if role == "leader_on_duty":
            # A swap entered for the duty officer alone keeps the leader of the shift it covers.
            return next((s.leader_on_duty for s in self._shifts_at(at) if s.leader_on_duty), None)
        if role == "section_chief":
            return self._roster.section_chief
        if role == "director":
            return self._roster.director
        if role == "township_leader":
            entry = self._townships.get(township) if township is not None else None
            return entry.leader if entry else None
        if role == "township_officer" and township is not None and self._tz is not None:
            day = at.astimezone(self._tz).date()
            serving = [t for t in self._officers.get(township, ()) if t.covers(day)]
            return max(serving, key=lambda t: t.starts_on).person if serving else None
        return None
