"""Where a Feishu bot's mentions come from: each person's Feishu id, by phone, in the directory (the
policy's people may carry one; ids set at run time win), into the payload's recipients only where
known, never guessed; and the CSV the office imports them from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerting.county import directory, feishu_ids
from alerting.policy.loader import parse_policy
from alerting.policy.roster import Directory, Person, Recipient, RosterPolicy, phone_key
from escalation.directory import policy_feishu_ids
from tests.unit.test_messages import LI, WANG, payload
from tests.unit.test_policy import ENV, EXAMPLE, edit, error

AT = datetime(2026, 3, 2, 1, 5, tzinfo=UTC)
OU_CHEN = "ou_5a1f0c2e9b8d7a6f5e4d3c2b1a0f9e8d"
OU_LIU = "ou_0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"


def test_phone_keys() -> None:
    for same in ("13800000001", "+86 138-0000-0001", "8613800000001", " 138 0000 0001 "):
        assert phone_key(same) == "13800000001"
    assert phone_key("0791-80000001") == "079180000001"
    assert phone_key("(0791) 8000 0001") == "079180000001"


def test_the_payload_carries_a_feishu_id_only_where_known() -> None:
    known = Recipient("duty_officer", "王小明", "13800000001", OU_CHEN)
    body = payload(recipients=[known, LI])
    assert body["recipients"][0]["feishu_user_id"] == OU_CHEN
    assert "feishu_user_id" not in body["recipients"][1]
    assert all("feishu_user_id" not in r for r in payload(recipients=[WANG, LI])["recipients"])


def test_the_directory_gives_ids_by_phone_and_ids_set_later_win() -> None:
    roster = RosterPolicy(
        section_chief=Person(name="信息科 刘科长", phone="0791-80000001", feishu_user_id=OU_LIU),
        director=Person(name="县委办 陈主任", phone="0791-80000002"),
        fallback_duty_officer=Person(name="总值班室", phone="+86 138 0000 0000"),
    )
    roles = ["section_chief", "director", "duty_officer"]
    alone = Directory(roster).resolve(roles, AT)[0]
    assert [r.feishu_user_id for r in alone] == [OU_LIU, None, None]
    later = {"079180000002": OU_CHEN, "079180000001": None, "13800000000": "ou_duty"}
    found = Directory(roster, feishu_ids=later).resolve(roles, AT)[0]
    assert [r.feishu_user_id for r in found] == [None, OU_CHEN, "ou_duty"]  # None: cleared at run time


def test_the_policy_may_give_its_people_feishu_ids() -> None:
    text = edit(
        'director = { name = "县委办 陈主任", phone = "0791-80000002" }',
        f'director = {{ name = "县委办 陈主任", phone = "0791-80000002", feishu_user_id = "{OU_CHEN}" }}',
    )
    policy = parse_policy(text, env=ENV)
    assert policy.roster.director is not None and policy.roster.director.feishu_user_id == OU_CHEN
    assert policy_feishu_ids(policy) == {"079180000002": OU_CHEN}
    # What the policy seeded is unchanged by an id: the ids are read from the policy, not seeded.
    assert directory.policy_fingerprint(policy) == directory.policy_fingerprint(
        parse_policy(EXAMPLE, env=ENV)
    )
    bad = error(text.replace(OU_CHEN, "ou_x></at><at id=all"))
    assert bad.key == "roster.director.feishu_user_id"


CSV_HEADER = "姓名,电话,飞书ID\n"


def test_a_csv_of_ids() -> None:
    data = f"\ufeff{CSV_HEADER}王小明,13800000001,{OU_CHEN}\n\n陈丽,138 0000 0002,\n".encode()
    assert feishu_ids.parse_csv(data) == [
        feishu_ids.Entry("13800000001", OU_CHEN),
        feishu_ids.Entry("138 0000 0002", None),  # an empty id clears it
    ]
    english = f"phone,open_id\n13800000001,{OU_CHEN}\n".encode()
    assert feishu_ids.parse_csv(english) == [feishu_ids.Entry("13800000001", OU_CHEN)]


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("姓名,飞书ID\n王小明,ou_1\n", "ids.csv: line 1: the header needs a column 电话 and a column 飞书ID"),
        (f"{CSV_HEADER}王小明,13800000001,ou 1\n", "ids.csv: line 2, column 飞书ID: 飞书 ID 只含字母"),
        (f"{CSV_HEADER}\n王小明,电话,ou_1\n", "ids.csv: line 3, column 电话: 电话须为 3～40 位数字"),
    ],
)
def test_a_bad_csv_names_the_line_and_column(data: str, said: str) -> None:
    with pytest.raises(ValueError) as info:
        feishu_ids.parse_csv(data.encode(), "ids.csv")
    assert str(info.value).startswith(said)
    assert "ou 1" not in str(info.value)
    with pytest.raises(ValueError, match="not UTF-8"):
        feishu_ids.parse_csv(data.encode("gbk"), "ids.csv")
