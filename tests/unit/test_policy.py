import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from alerting.domain import DeadlineKind, Level
from alerting.errors import PolicyError
from alerting.policy.channels import ChatbotChannel, SmsChannel
from alerting.policy.loader import load_policy, parse_policy
from alerting.policy.model import FollowupRule, LevelRules, Policy, SilenceRules
from alerting.policy.roster import Person

DEPLOY = Path(__file__).parents[2] / "deploy"
EXAMPLE = (DEPLOY / "policy.example.toml").read_text(encoding="utf-8")
ENV = {"ALERTING_COUNTY_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
M = timedelta(minutes=1)
H = timedelta(hours=1)


def edit(old: str, new: str, text: str = EXAMPLE) -> str:
    assert old in text, f"the example file no longer contains {old!r}"
    return text.replace(old, new, 1)


def line_of(text: str, fragment: str) -> int:
    """1-based number of the first line containing `fragment`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def error(text: str, env: dict[str, str] = ENV) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, env=env)
    return info.value


@pytest.fixture
def policy() -> Policy:
    return parse_policy(EXAMPLE, env=ENV)


@pytest.mark.parametrize(
    ("level", "first", "written", "ack"),
    [
        ("I", 15 * M, 40 * M, 5 * M),
        ("II", 15 * M, 40 * M, 5 * M),
        ("III", 20 * M, 60 * M, 10 * M),
        ("IV", 30 * M, 120 * M, 30 * M),
    ],
)
def test_example_levels_have_the_design_defaults(
    policy: Policy, level: str, first: timedelta, written: timedelta, ack: timedelta
) -> None:
    rules = policy.levels[Level(level)]
    assert (rules.clock_starts, rules.first_report, rules.written_report, rules.ack) == (
        "known_at",
        first,
        written,
        ack,
    )


def test_example_default_chain_offsets(policy: Policy) -> None:
    assert policy.escalation["default"].offsets() == [
        (0, 0 * M),
        (1, 10 * M),
        (2, 20 * M),
        (2, 50 * M),
        (2, 80 * M),
        (2, 110 * M),
    ]
    assert policy.chain_for(DeadlineKind.ACK) is policy.escalation["default"]


def test_example_channel_gets_the_url_from_the_environment(policy: Policy) -> None:
    channel = policy.channels["county_webhook"]
    assert channel.url == "http://127.0.0.1:9/hook"
    assert (channel.timeout, channel.max_attempts) == (timedelta(seconds=5), 6)


def test_bad_duration_names_key_and_line() -> None:
    text = edit('ack = "10m"', 'ack = "10 minutes"')
    err = error(text)
    assert err.key == "levels.III.ack"
    assert err.line == line_of(text, '"10 minutes"')
    assert "10 minutes" in str(err) and "[levels.III.ack]" in str(err) and f"line {err.line}" in str(err)


def test_undefined_channel_in_a_step() -> None:
    text = edit(
        'roles = ["section_chief"],                  channels = ["county_webhook"]',
        'roles = ["section_chief"], channels = ["sms"]',
    )
    err = error(text)
    assert err.key == "escalation.default.steps.1.channels"
    assert "'sms'" in err.reason
    assert err.line == line_of(text, 'roles = ["section_chief"], channels = ["sms"]')  # the second step


def test_unknown_level() -> None:
    text = edit("[levels.IV]", "[levels.V]")
    err = error(text)
    assert err.key == "levels.V"
    assert err.line == line_of(text, "[levels.V]")


def test_unknown_top_level_key() -> None:
    text = edit('timezone = "Asia/Shanghai"\n', 'timezone = "Asia/Shanghai"\ncolour = "red"\n')
    err = error(text)
    assert err.key == "colour"
    assert err.line == line_of(text, "colour =")


@pytest.mark.parametrize("env", [{}, {"ALERTING_COUNTY_WEBHOOK_URL": ""}])
def test_unset_environment_variable(env: dict[str, str]) -> None:
    err = error(EXAMPLE, env=env)
    assert err.key == "channels.county_webhook.url"
    assert "ALERTING_COUNTY_WEBHOOK_URL" in err.reason
    assert err.line == line_of(EXAMPLE, "${ALERTING_COUNTY_WEBHOOK_URL}")


def test_invalid_toml_reports_the_line() -> None:
    broken = 'first_report = "20m'
    text = edit('first_report = "20m"', broken)
    err = error(text)
    assert "not valid TOML" in str(err)
    assert f"line {line_of(text, broken)}" in str(err)


def test_steps_out_of_order() -> None:
    text = edit('after = "10m"', 'after = "30m"')
    err = error(text)
    assert err.key == "escalation.default"
    assert "order" in err.reason
    assert err.line == line_of(text, "[escalation.default]")


def test_chain_named_after_an_unknown_deadline_kind() -> None:
    text = edit(
        "[channels.county_webhook]",
        '[escalation.acknowledge]\nsteps = [{ after = "0m", channels = ["county_webhook"] }]\n\n'
        "[channels.county_webhook]",
    )
    err = error(text)
    assert err.key == "escalation.acknowledge"
    assert "ack" in err.reason and "first_report" in err.reason
    assert err.line == line_of(text, "[escalation.acknowledge]")


def test_unknown_key_on_the_first_line_has_a_line_number() -> None:
    assert error('colour = "red"\n' + EXAMPLE).line == 1


def test_missing_key_points_into_its_own_table() -> None:
    text = edit('written_report = "40m"\nack = "5m"\n', 'written_report = "40m"\n')
    err = error(text)
    assert err.key == "levels.I.ack"
    assert line_of(text, "[levels.I]") <= err.line < line_of(text, "[levels.II]")


# --- the example's new sections ------------------------------------------------------------------

CADENCE = FollowupRule.model_validate({"every": "2h", "for": "12h", "at": ["08:00", "17:00"]})
DAILY_8 = FollowupRule.model_validate({"at": ["08:00"]})


@pytest.mark.parametrize(
    ("level", "followup", "final", "phone", "written"),
    [
        ("I", CADENCE, 24 * H, 30 * M, 1 * H),
        ("II", CADENCE, 24 * H, 30 * M, 1 * H),
        ("III", DAILY_8, 48 * H, None, 1 * H),
        ("IV", DAILY_8, 72 * H, None, 2 * H),
    ],
)
def test_example_levels_followup_final_and_forwarding(
    policy: Policy,
    level: str,
    followup: FollowupRule,
    final: timedelta,
    phone: timedelta | None,
    written: timedelta | None,
) -> None:
    rules = policy.levels[Level(level)]
    assert (rules.followup, rules.final_report, rules.forward_phone, rules.forward_written) == (
        followup,
        final,
        phone,
        written,
    )


def test_example_cadence_fields(policy: Policy) -> None:
    followup = policy.levels[Level.II].followup
    assert followup is not None
    assert (followup.every, followup.for_, followup.at) == (2 * H, 12 * H, ("08:00", "17:00"))
    assert [t.isoformat() for t in followup.local_times()] == ["08:00:00", "17:00:00"]


def test_example_general_settings(policy: Policy) -> None:
    assert policy.tz == ZoneInfo("Asia/Shanghai")
    assert policy.ack_link_ttl == 24 * H
    assert (policy.silence.remind_after_working_days, policy.silence.flag_after_working_days) == (10, 15)
    assert [(d.name, d.title, d.categories, d.schedule, d.due_day) for d in policy.periodic] == [
        ("key_project_progress", "重点项目进展", ("重点项目",), "monthly", 15),
        ("public_opinion", "社情民意", ("社情民意",), "monthly", None),
    ]
    assert policy.balance.enabled is True
    assert sorted(policy.townships) == sorted(["城关镇", "梅林镇", "青山乡"])
    assert policy.townships["梅林镇"].leader == Person(name="梅林镇 党委办 王主任", phone="13800000102")
    assert policy.roster.director == Person(name="县委办 陈主任", phone="0791-80000002")
    assert policy.calendar.is_working_day(date(2026, 2, 14))  # adjusted Saturday
    assert not policy.calendar.is_working_day(date(2026, 2, 16))  # Spring Festival
    # parse_policy does not read files: the CSV path is kept as written, no shifts yet
    assert policy.roster.csv == Path("roster.example.csv")
    assert policy.roster.shifts == ()


def test_public_health_overrides_only_the_written_report(policy: Policy) -> None:
    base = policy.levels[Level.II]
    rules = policy.rules_for(Level.II, "公共卫生")
    assert rules.written_report == 2 * H
    assert rules == base.model_copy(update={"written_report": 2 * H})
    assert base.written_report == 40 * M  # the level itself is untouched


@pytest.mark.parametrize("level", list(Level))
def test_natural_disasters_replace_the_followup_with_a_daily_morning_report(
    policy: Policy, level: Level
) -> None:
    rules = policy.rules_for(level, "自然灾害")
    assert rules.followup == DAILY_8
    assert rules.followup is not None and rules.followup.every is None  # replaced, not merged
    assert rules.model_dump(exclude={"followup"}) == policy.levels[level].model_dump(exclude={"followup"})


@pytest.mark.parametrize("category", ["火灾", "经验做法"])
def test_categories_without_limit_overrides_keep_the_level(policy: Policy, category: str) -> None:
    assert policy.rules_for(Level.III, category) == policy.levels[Level.III]


def test_is_problem(policy: Policy) -> None:
    assert policy.is_problem("经验做法", None) is False
    assert policy.is_problem("工作动态", None) is False
    assert policy.is_problem("经验做法", True) is True  # what the report says wins
    assert policy.is_problem("公共卫生", None) is True  # listed, default problem = true
    assert policy.is_problem("公共卫生", False) is False
    assert policy.is_problem("没有这个分类", None) is True  # unknown category


def test_chain_for_a_kind_with_its_own_chain(policy: Policy) -> None:
    assert policy.chain_for(DeadlineKind.FOLLOWUP) is policy.escalation["followup"]
    assert policy.chain_for(DeadlineKind.FORWARD_PHONE) is policy.escalation["default"]


# --- validation of the new sections --------------------------------------------------------------

LEVEL_III_FOLLOWUP = 'ack = "10m"\nfollowup = { at = ["08:00"] }'


@pytest.mark.parametrize(
    ("followup", "key", "reason"),
    [
        ('{ for = "12h", at = ["08:00"] }', "levels.III.followup", "`for` needs `every`"),
        ("{ at = [] }", "levels.III.followup", "give `every`"),
        ('{ for = "0m" }', "levels.III.followup", "give `every`"),
        ('{ every = "0m", for = "1h" }', "levels.III.followup", "positive"),
        ('{ at = ["25:00"] }', "levels.III.followup.at.0", "pattern"),
        ('{ at = ["08:00", "8:30"] }', "levels.III.followup.at.1", "pattern"),
        ('{ every = "2h", until = "12h" }', "levels.III.followup.until", "Extra inputs"),
    ],
)
def test_bad_followup_names_key_and_line(followup: str, key: str, reason: str) -> None:
    text = edit(LEVEL_III_FOLLOWUP, f'ack = "10m"\nfollowup = {followup}')
    err = error(text)
    assert err.key == key
    assert reason in err.reason
    assert err.line == line_of(text, f"followup = {followup}")


def test_followup_rule_alone() -> None:
    with pytest.raises(ValidationError, match="`for` needs `every`"):
        FollowupRule.model_validate({"for": "1h"})
    with pytest.raises(ValidationError, match="give `every`"):
        FollowupRule()
    assert FollowupRule.model_validate({"at": ["17:00", "08:00"]}).local_times()[0].hour == 8


def test_bad_category_override_names_its_key() -> None:
    text = edit(
        '[categories."公共卫生"]      # public health: written report within 2 h\nwritten_report = "2h"',
        '[categories."公共卫生"]\nwritten_report = "two hours"',
    )
    err = error(text)
    assert err.key == "categories.公共卫生.written_report"
    assert "two hours" in err.reason


def test_bad_category_override_names_its_line() -> None:
    text = edit(
        'followup = { at = ["08:00"] }\n[categories."事故灾难"]',
        'followup = { at = ["25:00"] }\n[categories."事故灾难"]',
    )
    err = error(text)
    assert err.key == "categories.自然灾害.followup.at.0"
    assert err.line == line_of(text, '"25:00"')


def test_a_routine_category_carries_no_urgent_limits() -> None:
    text = edit(
        '[categories."社情民意"]      # public opinion (monthly duty)\nstream = "routine"\n',
        '[categories."社情民意"]      # public opinion (monthly duty)\nstream = "routine"\nack = "1h"\n',
    )
    err = error(text)
    assert err.key == "categories.社情民意"
    assert "a routine category has no urgent limits; remove ack" in err.reason


def test_a_periodic_duty_is_met_by_a_routine_category() -> None:
    err = error(edit('categories = ["社情民意"]', 'categories = ["安全生产"]'))
    assert "public_opinion: 安全生产 must be routine categories of the catalogue" in err.reason


def test_the_catalogue_names_each_category_stream() -> None:
    policy = parse_policy(EXAMPLE, ENV)
    assert {name for name, c in policy.categories.items() if c.stream == "urgent"} == {
        "安全生产",
        "自然灾害",
        "事故灾难",
        "公共卫生",
        "社会安全",
        "群体性事件",
        "网络舆情",
    }
    assert {name for name, c in policy.categories.items() if c.stream == "routine"} == {
        "工作动态",
        "经验做法",
        "问题建议",
        "社情民意",
        "重点项目",
    }
    assert policy.category_refusal("安全生产", "urgent") is None
    assert policy.category_refusal("社情民意", "routine") is None
    assert "submit it as a routine item (POST /api/v1/items)" in str(
        policy.category_refusal("社情民意", "urgent")
    )
    assert "unknown category 火灾; the urgent categories are: 安全生产、" in str(
        policy.category_refusal("火灾", "urgent")
    )
    bare = policy.model_copy(update={"categories": {}})  # no catalogue: every category urgent
    assert bare.category_refusal("火灾", "urgent") is None
    assert bare.category_refusal("社情民意", "routine") is not None


def test_category_cannot_override_forwarding() -> None:
    text = edit(
        '[categories."公共卫生"]      # public health: written report within 2 h\n',
        '[categories."公共卫生"]\nforward_phone = "10m"\n',
    )
    err = error(text)
    assert err.key == "categories.公共卫生.forward_phone"


@pytest.mark.parametrize(("remind", "flag"), [(10, 10), (10, 9)])
def test_silence_flag_must_come_after_the_reminder(remind: int, flag: int) -> None:
    text = edit(
        "remind_after_working_days = 10\nflag_after_working_days = 15",
        f"remind_after_working_days = {remind}\nflag_after_working_days = {flag}",
    )
    err = error(text)
    assert err.key == "silence"
    assert "flag_after_working_days" in err.reason
    assert err.line == line_of(text, "[silence]")


def test_silence_rules_alone() -> None:
    assert SilenceRules(remind_after_working_days=1, flag_after_working_days=2).flag_after_working_days == 2
    with pytest.raises(ValidationError):
        SilenceRules(remind_after_working_days=0, flag_after_working_days=2)


DUPLICATE_DUTY = edit('name = "public_opinion"', 'name = "key_project_progress"')


def test_periodic_duty_defined_twice() -> None:
    err = error(DUPLICATE_DUTY)
    assert err.key == "periodic.1.name"
    assert "key_project_progress" in err.reason and "twice" in err.reason


def test_periodic_duty_defined_twice_points_at_the_second_one() -> None:
    err = error(DUPLICATE_DUTY)
    lines = DUPLICATE_DUTY.splitlines()
    second = [i for i, line in enumerate(lines, 1) if line == 'name = "key_project_progress"'][1]
    assert err.line == second


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('name = "public_opinion"', 'name = "Public-Opinion"', "periodic.1.name"),
        ('categories = ["社情民意"]', "categories = []", "periodic.1.categories"),
        ('schedule = "monthly"\ndue_day = 15', 'schedule = "weekly"\ndue_day = 15', "periodic.0.schedule"),
        ("due_day = 15", "due_day = 32", "periodic.0.due_day"),
    ],
)
def test_bad_periodic_duty_names_its_index(old: str, new: str, key: str) -> None:
    assert error(edit(old, new)).key == key


def test_unknown_timezone() -> None:
    text = edit('timezone = "Asia/Shanghai"', 'timezone = "Asia/Atlantis"')
    err = error(text)
    assert err.key == "timezone"
    assert "Asia/Atlantis" in err.reason
    assert err.line == line_of(text, "Asia/Atlantis")


CHANNELS = """
[channels.duty_robot]
type = "chatbot"
url = "https://im.example.cn/robot/send?key=abc"

[channels.sms]
type = "sms"
url = "http://10.0.0.5/sms"
"""


def test_chatbot_and_sms_channels_parse() -> None:
    policy = parse_policy(EXAMPLE + CHANNELS, env=ENV)
    robot, sms = policy.channels["duty_robot"], policy.channels["sms"]
    assert isinstance(robot, ChatbotChannel)
    assert (robot.url, robot.mention_recipients) == ("https://im.example.cn/robot/send?key=abc", True)
    assert isinstance(sms, SmsChannel)
    assert (sms.url, sms.sign, sms.template) == ("http://10.0.0.5/sms", "【县委办】", None)


def test_channel_fields_belong_to_their_type() -> None:
    # `sign` is an SMS setting: a chatbot channel does not take it
    text = EXAMPLE + CHANNELS.replace('key=abc"', 'key=abc"\nsign = "x"')
    err = error(text)
    assert err.key == "channels.duty_robot.chatbot.sign"
    assert err.line == text.splitlines().index('sign = "x"') + 1  # its own line, not the table's


def test_unknown_channel_type_names_the_channel() -> None:
    text = EXAMPLE + CHANNELS.replace('type = "chatbot"', 'type = "pager"')
    err = error(text)
    assert err.key == "channels.duty_robot"
    assert "pager" in err.reason
    # the example file mentions "# [channels.duty_robot]" in a comment: find the real header
    assert err.line == text.splitlines().index("[channels.duty_robot]") + 1


# --- load_policy ---------------------------------------------------------------------------------


@pytest.fixture
def deployed(tmp_path: Path) -> Path:
    """A copy of the example policy and its roster CSV in a directory of their own."""
    shutil.copy(DEPLOY / "policy.example.toml", tmp_path / "policy.toml")
    shutil.copy(DEPLOY / "roster.example.csv", tmp_path / "roster.example.csv")
    return tmp_path / "policy.toml"


def test_load_policy_reads_the_roster_next_to_the_policy(deployed: Path) -> None:
    policy = load_policy(deployed, env=ENV)
    shifts = policy.roster.shifts
    shanghai = ZoneInfo("Asia/Shanghai")
    assert len(shifts) == 4
    assert shifts[0].start == datetime(2026, 11, 26, 8, 30, tzinfo=shanghai)
    assert shifts[0].end == datetime(2026, 11, 27, 8, 30, tzinfo=shanghai)
    assert shifts[0].duty_officer == Person(name="王小明", phone="13800000001")
    assert shifts[0].leader_on_duty == Person(name="李建国", phone="0791-80000001")
    assert shifts[2].leader_on_duty is None
    assert policy.roster.csv == deployed.parent / "roster.example.csv"
    # everything else is as parse_policy reads it
    assert policy.levels == parse_policy(EXAMPLE, env=ENV).levels


def test_load_policy_with_an_absolute_roster_path(deployed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "office" / "值班表.csv"
    elsewhere.parent.mkdir()
    shutil.move(deployed.parent / "roster.example.csv", elsewhere)
    deployed.write_text(
        edit('csv = "roster.example.csv"', f'csv = "{elsewhere.as_posix()}"'), encoding="utf-8"
    )
    assert len(load_policy(deployed, env=ENV).roster.shifts) == 4


def test_load_policy_without_a_roster_csv(deployed: Path) -> None:
    deployed.write_text(edit('csv = "roster.example.csv"\n', ""), encoding="utf-8")
    policy = load_policy(deployed, env=ENV)
    assert (policy.roster.csv, policy.roster.shifts) == (None, ())


def test_load_policy_broken_roster_csv(deployed: Path) -> None:
    csv = deployed.parent / "roster.example.csv"
    csv.write_text(
        "开始,结束,值班员,值班员电话,带班领导,带班领导电话\n2026-11-26 08:30,2026-11-26 08:00,王小明,138,,\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as info:
        load_policy(deployed, env=ENV)
    err = info.value
    assert err.key == "roster.csv"
    assert "line 2" in err.reason and "结束" in err.reason
    assert err.line == line_of(EXAMPLE, 'csv = "roster.example.csv"')


def test_load_policy_missing_roster_csv(deployed: Path) -> None:
    (deployed.parent / "roster.example.csv").unlink()
    with pytest.raises(PolicyError) as info:
        load_policy(deployed, env=ENV)
    assert info.value.key == "roster.csv"


def test_load_policy_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.toml", env=ENV)


def test_level_rules_defaults() -> None:
    rules = LevelRules.model_validate({"first_report": "15m", "written_report": "40m", "ack": "5m"})
    assert (rules.followup, rules.final_report, rules.forward_phone, rules.forward_written) == (
        None,
        72 * H,
        None,
        None,
    )
