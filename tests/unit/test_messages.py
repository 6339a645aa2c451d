from datetime import UTC, datetime
from typing import Any

import pytest

from alerting.domain import DeadlineKind
from alerting.policy.roster import Recipient, addressed
from escalation.messages import DEADLINE_EN, DEADLINE_ZH, Subject, escalation_payload

DUE = datetime(2026, 3, 2, 1, 5, tzinfo=UTC)  # 09:05 in Shanghai
KNOWN = datetime(2026, 3, 2, 0, 55, tzinfo=UTC)
INCIDENT = Subject(
    township="城关镇",
    incident_id="inc-1",
    title="仓库起火",
    level="II",
    category="火灾",
    known_at=KNOWN,
)
WANG = Recipient(role="duty_officer", name="王小明", phone="13800000001")
LI = Recipient(role="leader_on_duty", name="李建国", phone="0791-80000001")
ACK_URLS = {"王小明": "https://a.example/ack/tok-wang", "李建国": "https://a.example/ack/tok-li"}


def payload(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "subject": INCIDENT,
        "kind": DeadlineKind.ACK,
        "due_at": DUE,
        "round_number": 0,
        "step": 0,
        "roles": ("duty_officer", "leader_on_duty"),
        "recipients": [WANG, LI],
        "unresolved": [],
        "ack_urls": ACK_URLS,
        "idempotency_key": "dl-1:0",
        "timezone": "Asia/Shanghai",
        **overrides,
    }
    return escalation_payload(**args)


def test_incident_ack_text() -> None:
    text = payload()["text"]
    assert isinstance(text, str)
    for part in ("值班员签收超时", "城关镇", "仓库起火", "II级", "火灾", "2026-03-02 09:05"):
        assert part in text
    assert "值班员王小明" in text and "带班领导李建国" in text
    assert "01:05" not in text  # the local time, not UTC
    assert (
        payload()["text_en"] == "城关镇 '仓库起火' (level II): acknowledgement overdue, due 2026-03-02 09:05."
    )


def test_local_time_follows_the_timezone() -> None:
    assert "2026-03-02 01:05" in payload(timezone="UTC")["text"]


def test_incident_ack_structure() -> None:
    # the step's roles as given, including one that resolved to nobody
    roles = ("duty_officer", "leader_on_duty", "director")
    body = payload(round_number=3, step=2, roles=roles, unresolved=["director"])
    assert body["event"] == "deadline_missed"
    assert body["idempotency_key"] == "dl-1:0"
    assert body["township"] == "城关镇"
    assert body["incident"] == {
        "id": "inc-1",
        "level": "II",
        "category": "火灾",
        "title": "仓库起火",
        "known_at": "2026-03-02T00:55:00+00:00",
    }
    assert body["deadline"] == {"kind": "ack", "due_at": "2026-03-02T01:05:00+00:00"}
    assert body["escalation"] == {
        "round": 3,
        "step": 3,
        "roles": ["duty_officer", "leader_on_duty", "director"],
    }
    assert body["unresolved_roles"] == ["director"]


def test_recipients_carry_phone_and_their_own_link() -> None:
    body = payload()
    assert body["recipients"] == [
        {"role": "duty_officer", "name": "王小明", "phone": "13800000001", "ack_url": ACK_URLS["王小明"]},
        {"role": "leader_on_duty", "name": "李建国", "phone": "0791-80000001", "ack_url": ACK_URLS["李建国"]},
    ]
    # No link for the message as a whole: a link acknowledges in one person's name.
    assert "ack_url" not in body


def test_recipient_without_a_link() -> None:
    body = payload(ack_urls={"李建国": ACK_URLS["李建国"]})
    assert [r["ack_url"] for r in body["recipients"]] == [None, ACK_URLS["李建国"]]
    assert [r["ack_url"] for r in payload(ack_urls={})["recipients"]] == [None, None]


def test_nobody_resolved() -> None:
    body = payload(recipients=[], unresolved=["duty_officer", "leader_on_duty"], ack_urls={})
    assert body["recipients"] == [] and "ack_url" not in body
    assert "请值班员立即处理" in body["text"]


def test_township_duty() -> None:
    subject = Subject(township="梅林镇", duty="重点项目进展")
    body = payload(
        subject=subject,
        kind=DeadlineKind.PERIODIC,
        roles=("township_leader",),
        recipients=[Recipient(role="township_leader", name="王主任", phone="13800000102")],
        ack_urls={},
    )
    assert body["incident"] is None
    assert body["township"] == "梅林镇"
    text = body["text"]
    assert isinstance(text, str)
    assert "定期报送超时" in text and "梅林镇「重点项目进展」" in text and "乡镇负责人王主任" in text
    assert body["text_en"] == "梅林镇 '重点项目进展': periodic report overdue, due 2026-03-02 09:05."
    assert body["escalation"] == {"round": 0, "step": 1, "roles": ["township_leader"]}
    assert body["deadline"] == {"kind": "periodic", "due_at": "2026-03-02T01:05:00+00:00"}


def test_township_duty_without_a_name() -> None:
    body = payload(subject=Subject(township="青山乡"), kind=DeadlineKind.QUARTER_BALANCE)
    assert body["incident"] is None
    assert str(body["text"]).startswith("【紧急信息提醒·本季度只报喜不报忧】青山乡时限 ")


@pytest.mark.parametrize("kind", list(DeadlineKind))
def test_every_kind_has_both_texts(kind: DeadlineKind) -> None:
    body = payload(kind=kind)
    assert DEADLINE_ZH[kind] in str(body["text"])
    assert DEADLINE_EN[kind] in str(body["text_en"])
    assert body["deadline"]["kind"] == kind.value


def test_a_name_written_with_its_office_is_not_prefixed_with_the_post_again() -> None:
    assert addressed("director", "县委办 陈主任") == "县委办 陈主任"
    assert addressed("duty_officer", "王小明") == "值班员王小明"
    assert addressed("someone_else", "赵六") == "someone_else赵六"
    body = payload(recipients=[Recipient(role="director", name="县委办 陈主任", phone="0791-80000002")])
    assert "请县委办 陈主任立即处理" in body["text"] and "县委办主任县委办" not in body["text"]
