import re
import tomllib
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from alerting.policy.roster import (
    Directory,
    Person,
    Recipient,
    RosterPolicy,
    Shift,
    Township,
    load_shifts_csv,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
EXAMPLE = Path(__file__).parents[2] / "deploy" / "roster.example.csv"
HEADER = "开始,结束,值班员,值班员电话,带班领导,带班领导电话\n"
H = timedelta(hours=1)

WANG = Person(name="王小明", phone="13800000001")
LI = Person(name="李建国", phone="0791-80000001")
CHEN = Person(name="陈丽", phone="13800000002")
ZHAO = Person(name="赵志强", phone="0791-80000002")
HOTLINE = Person(name="县委办值班室", phone="0791-80000000")
DAY1 = datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI)


def shift(start: datetime, hours: int, officer: Person, leader: Person | None = None) -> Shift:
    return Shift(start=start, end=start + hours * H, duty_officer=officer, leader_on_duty=leader)


def who(directory: Directory, roles: list[str], at: datetime, township: str | None = None) -> object:
    """(role, name) pairs and the unresolved roles, for compact assertions."""
    recipients, unresolved = directory.resolve(roles, at, township)
    return [(r.role, r.name) for r in recipients], unresolved


@pytest.fixture
def directory() -> Directory:
    """Two back-to-back 24 h shifts from DAY1, then a gap; the 24-hour duty phone as fallback."""
    roster = RosterPolicy(
        shifts=(shift(DAY1, 24, WANG, LI),),
        section_chief=CHEN,
        director=ZHAO,
        fallback_duty_officer=HOTLINE,
    )
    return Directory(
        roster,
        csv_shifts=[shift(DAY1 + 24 * H, 24, CHEN)],
        townships={"城关镇": Township(leader=Person(name="周敏", phone="13800000009"))},
    )


def test_inside_a_shift_the_duty_officer_and_leader_come_from_it(directory: Directory) -> None:
    recipients, unresolved = directory.resolve(["duty_officer", "leader_on_duty"], DAY1 + 3 * H, None)
    assert recipients == [
        Recipient(role="duty_officer", name="王小明", phone="13800000001"),
        Recipient(role="leader_on_duty", name="李建国", phone="0791-80000001"),
    ]
    assert unresolved == []


def test_shift_start_is_inclusive_and_end_exclusive(directory: Directory) -> None:
    assert who(directory, ["duty_officer"], DAY1) == ([("duty_officer", "王小明")], [])
    assert who(directory, ["duty_officer"], DAY1 + 24 * H - timedelta(seconds=1)) == (
        [("duty_officer", "王小明")],
        [],
    )
    assert who(directory, ["duty_officer"], DAY1 + 24 * H) == ([("duty_officer", "陈丽")], [])


def test_the_moment_may_be_given_in_any_timezone(directory: Directory) -> None:
    at_utc = (DAY1 + 24 * H).astimezone(UTC)
    assert who(directory, ["duty_officer"], at_utc) == ([("duty_officer", "陈丽")], [])


def test_in_a_gap_the_fallback_answers_but_there_is_no_leader(directory: Directory) -> None:
    gap = DAY1 + 50 * H
    assert who(directory, ["duty_officer", "leader_on_duty"], gap) == (
        [("duty_officer", "县委办值班室")],
        ["leader_on_duty"],
    )
    assert who(directory, ["duty_officer"], DAY1 - H) == ([("duty_officer", "县委办值班室")], [])


def test_in_a_gap_without_fallback_the_duty_officer_is_unresolved() -> None:
    directory = Directory(RosterPolicy(shifts=(shift(DAY1, 24, WANG),)))
    assert who(directory, ["duty_officer"], DAY1 + 30 * H) == ([], ["duty_officer"])


def test_a_shift_without_leader_leaves_leader_on_duty_unresolved(directory: Directory) -> None:
    assert who(directory, ["leader_on_duty"], DAY1 + 30 * H) == ([], ["leader_on_duty"])


def test_overlapping_shifts_the_one_started_last_wins() -> None:
    # A week-long regular shift with a 2 h swap inside it, and a later swap listed before it.
    week = shift(DAY1, 24 * 7, WANG, LI)
    swap = shift(DAY1 + 10 * H, 2, CHEN)
    later_swap = shift(DAY1 + 30 * H, 2, ZHAO)
    directory = Directory(RosterPolicy(shifts=(later_swap, week)), csv_shifts=[swap])
    assert who(directory, ["duty_officer"], DAY1 + 11 * H) == ([("duty_officer", "陈丽")], [])
    assert who(directory, ["duty_officer"], DAY1 + 31 * H) == ([("duty_officer", "赵志强")], [])
    # Once the swaps end, the long shift that started earlier covers again.
    assert who(directory, ["duty_officer"], DAY1 + 12 * H) == ([("duty_officer", "王小明")], [])
    assert who(directory, ["duty_officer"], DAY1 + 40 * H) == ([("duty_officer", "王小明")], [])


def test_a_swap_without_a_leader_keeps_the_leader_of_the_shift_it_covers() -> None:
    week = shift(DAY1, 24 * 7, WANG, LI)
    swap = shift(DAY1 + 10 * H, 2, CHEN)
    swap_with_leader = shift(DAY1 + 30 * H, 2, CHEN, ZHAO)
    directory = Directory(RosterPolicy(shifts=(week, swap, swap_with_leader)))
    roles = ["duty_officer", "leader_on_duty"]
    chen = ("duty_officer", "陈丽")
    assert who(directory, roles, DAY1 + 11 * H) == ([chen, ("leader_on_duty", "李建国")], [])
    assert who(directory, roles, DAY1 + 31 * H) == ([chen, ("leader_on_duty", "赵志强")], [])


def test_equal_starts_the_one_listed_last_wins() -> None:
    directory = Directory(RosterPolicy(shifts=(shift(DAY1, 24, WANG),)), csv_shifts=[shift(DAY1, 24, CHEN)])
    assert who(directory, ["duty_officer"], DAY1 + H) == ([("duty_officer", "陈丽")], [])


def test_lookup_in_a_long_roster() -> None:
    officers = [Person(name=f"值班员{i}", phone=f"13800{i:06d}") for i in range(3000)]
    shifts = [shift(DAY1 + i * 24 * H, 24, officers[i]) for i in range(3000)]
    directory = Directory(RosterPolicy(), csv_shifts=shifts[::-1])
    at = DAY1 + (2024 * 24 + 5) * H
    assert who(directory, ["duty_officer"], at) == ([("duty_officer", "值班员2024")], [])
    assert who(directory, ["duty_officer"], DAY1 + 3000 * 24 * H) == ([], ["duty_officer"])


def test_fixed_posts_resolve_and_missing_ones_are_reported(directory: Directory) -> None:
    assert who(directory, ["director", "section_chief"], DAY1) == (
        [("director", "赵志强"), ("section_chief", "陈丽")],
        [],
    )
    bare = Directory(RosterPolicy())
    assert who(bare, ["section_chief", "director"], DAY1) == ([], ["section_chief", "director"])


def test_township_leader_for_a_known_unknown_and_absent_township(directory: Directory) -> None:
    assert who(directory, ["township_leader"], DAY1, "城关镇") == ([("township_leader", "周敏")], [])
    assert who(directory, ["township_leader"], DAY1, "不存在乡") == ([], ["township_leader"])
    assert who(directory, ["township_leader"], DAY1, None) == ([], ["township_leader"])


def test_unknown_role_is_reported_and_the_order_of_roles_kept(directory: Directory) -> None:
    assert who(directory, ["director", "mayor", "duty_officer"], DAY1) == (
        [("director", "赵志强"), ("duty_officer", "王小明")],
        ["mayor"],
    )


def test_one_person_in_two_roles_is_told_once_per_role() -> None:
    directory = Directory(RosterPolicy(shifts=(shift(DAY1, 24, WANG),), section_chief=WANG))
    recipients, _ = directory.resolve(["duty_officer", "section_chief", "duty_officer"], DAY1)
    assert [(r.role, r.name) for r in recipients] == [("duty_officer", "王小明"), ("section_chief", "王小明")]


def test_resolve_refuses_a_naive_moment(directory: Directory) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        directory.resolve(["duty_officer"], datetime(2026, 11, 26, 9, 0), None)


def test_models_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        Shift(start=DAY1, end=DAY1, duty_officer=WANG)
    with pytest.raises(ValidationError):
        Person(name="王小明", phone="call me")
    with pytest.raises(ValidationError):
        Person(name="  ", phone="13800000001")


def test_roster_section_from_toml() -> None:
    raw = tomllib.loads(
        """
        [roster]
        csv = "roster.csv"
        director = { name = "赵志强", phone = "0791-80000002" }

        [[roster.shifts]]
        start = 2026-11-26T08:30:00+08:00
        end = 2026-11-27T08:30:00+08:00
        duty_officer = { name = "王小明", phone = "13800000001" }
        """
    )
    roster = RosterPolicy.model_validate(raw["roster"])
    assert roster.csv == Path("roster.csv")
    assert roster.shifts == (shift(DAY1, 24, WANG),)
    with pytest.raises(ValidationError, match="extra"):
        RosterPolicy.model_validate({**raw["roster"], "fallback": "x"})


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding=encoding)
    return path


def test_csv_with_bom_local_times_and_an_empty_leader(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "2026-11-26 08:30,2026-11-27 08:30,王小明,13800000001,,\n\n,,,,,\n",
        encoding="utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_shifts_csv(path, SHANGHAI) == (shift(DAY1, 24, WANG),)
    assert load_shifts_csv(path, SHANGHAI)[0].start.utcoffset() == 8 * H


def test_csv_iso_times_with_offset_and_excel_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "2026-11-26T00:30:00+00:00,2026/11/27 8:30,王小明,13800000001,李建国,0791-80000001\n",
    )
    assert load_shifts_csv(path, SHANGHAI) == (shift(DAY1, 24, WANG, LI),)


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("2026-11-26 8h30,2026-11-27 08:30,王小明,13800000001,,", "开始", "not a time"),
        ("2026-11-26 08:30,2026-11-27,王小明,13800000001,,", "结束", "not a time"),
        ("2026-11-26 08:30,2026-11-26 08:30,王小明,13800000001,,", "结束", "no later than"),
        ("2026-11-26 08:30,2026-11-27 08:30,,13800000001,,", "值班员", "name is missing"),
        ("2026-11-26 08:30,2026-11-27 08:30,王小明,,,", "值班员电话", "phone is missing"),
        ("2026-11-26 08:30,2026-11-27 08:30,王小明,138-call,,", "值班员电话", "pattern"),
        ("2026-11-26 08:30,2026-11-27 08:30,王小明,13800000001,李建国,", "带班领导电话", "missing"),
    ],
)
def test_csv_errors_name_file_line_and_column(tmp_path: Path, row: str, column: str, reason: str) -> None:
    good = "2026-11-25 08:30,2026-11-26 08:30,陈丽,13800000002,,\n"
    path = write(tmp_path, HEADER + good + row + "\n")
    with pytest.raises(ValueError, match=reason) as info:
        load_shifts_csv(path, SHANGHAI)
    assert f"{path}: line 3, column {column}:" in str(info.value)


def test_csv_header_and_encoding_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "开始,结束,值班员,电话\n")
    with pytest.raises(ValueError, match=r"line 1: header lacks column\(s\) 值班员电话, 带班领导, 带班"):
        load_shifts_csv(path, SHANGHAI)
    path = write(tmp_path, HEADER + "2026-11-26 08:30,2026-11-27 08:30,王小明,13800000001,,\n", "gbk")
    with pytest.raises(ValueError, match=re.escape(f"{path}: line 1: not UTF-8")):
        load_shifts_csv(path, SHANGHAI)


def test_the_example_roster_loads() -> None:
    shifts = load_shifts_csv(EXAMPLE, SHANGHAI)
    assert len(shifts) == 4
    assert shifts[0].start == DAY1
    assert all(s.end - s.start == 24 * H for s in shifts)
    assert all(a.end == b.start for a, b in pairwise(shifts))
    assert any(s.leader_on_duty is None for s in shifts)
