"""What a Feishu bot's card shows (tests/feishu_bot.py checks its fields as Feishu does): the
incident text, a button per person opening their own link, mentions by Feishu id only, a digest as
one card, and the 20 KB limit kept by cutting the texts, never a button."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from alerting.errors import PermanentDelivery
from alerting.policy.channels import FeishuChannel
from escalation.notify import feishu
from tests.feishu_bot import bot, card_is_valid
from tests.unit.test_integrations import ACK_LI, ACK_WANG, TEXT, payload

HOOK_ID = "6e0d7a21-4c3b-4f8e-9a5d-1b2c3d4e5f60"
SECRET = "t7Yq2LmW9xC4vB8nK3sD5f"
AT = datetime(2024, 5, 1, 2, 0, 5, tzinfo=UTC)
OU_LI, OU_WANG = "ou_7d8a6e6df7621556ce0d21922b676706", "ou_2f0b4e3c9a1d8e7f6a5b4c3d2e1f0a9b"
TITLE = {"tag": "plain_text", "content": "【紧急信息提醒·值班员签收超时】"}


def channel(
    url: str = f"https://open.feishu.cn/open-apis/bot/v2/hook/{HOOK_ID}", **fields: Any
) -> FeishuChannel:
    return FeishuChannel(type="feishu", url=url, **{"secret": SECRET, **fields})


def known(**ids: str) -> list[dict[str, Any]]:
    """payload()'s two recipients, with the Feishu ids given by name (li, wang)."""
    people = payload()["recipients"]
    for person, key in zip(people, ("li", "wang"), strict=True):
        if key in ids:
            person["feishu_user_id"] = ids[key]
    return people


def button(label: str, url: str) -> dict[str, Any]:
    return {"tag": "button", "text": {"tag": "plain_text", "content": label}, "type": "primary", "url": url}


def shown(body: bytes) -> dict[str, Any]:
    import json

    decoded: dict[str, Any] = json.loads(body)
    assert card_is_valid(decoded["card"])
    return decoded


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


async def test_a_button_per_person_and_mentions_by_feishu_id(client: httpx.AsyncClient) -> None:
    async with bot(HOOK_ID, SECRET, AT) as hook:
        await feishu.send(
            client, channel(hook.url), payload(recipients=known(li=OU_LI, wang=OU_WANG)), now=lambda: AT
        )
    [body] = hook.shown
    assert body["card"] == {
        "header": {"title": TITLE, "template": "red"},
        "elements": [
            {"tag": "div", "text": {"tag": "plain_text", "content": TEXT}},
            {
                "tag": "div",
                "text": {"tag": "lark_md", "content": f"<at id={OU_LI}></at> <at id={OU_WANG}></at>"},
            },
            {
                "tag": "action",
                "actions": [button("值班员李四 签收", ACK_LI), button("带班领导王五 签收", ACK_WANG)],
            },
        ],
    }
    assert hook.mentioned() == [OU_LI, OU_WANG]


async def test_a_person_without_a_feishu_id_is_not_mentioned(client: httpx.AsyncClient) -> None:
    odd = known(li=OU_LI, wang=f"{OU_WANG}></at><at id=all")  # not an id: never written into the tag
    async with bot(HOOK_ID, SECRET, AT) as hook:
        for people in (known(li=OU_LI), payload()["recipients"], odd):
            await feishu.send(client, channel(hook.url), payload(recipients=people), now=lambda: AT)
    assert [hook.mentioned(i) for i in range(3)] == [[OU_LI], [], [OU_LI]]
    for body in hook.shown:  # the phone numbers are nowhere: Feishu cannot mention by phone
        assert "13800000001" not in str(body) and len(body["card"]["elements"][-1]["actions"]) == 2


def test_without_mentions_or_links() -> None:
    quiet = shown(feishu.encode(channel(mention_recipients=False), payload(recipients=known(li=OU_LI)), AT))
    assert [e["tag"] for e in quiet["card"]["elements"]] == ["div", "action"]
    unlinked = [{k: v for k, v in r.items() if k != "ack_url"} for r in known(li=OU_LI)]
    plain = shown(feishu.encode(channel(), payload(recipients=unlinked), AT))
    assert plain["card"]["elements"] == [
        {"tag": "div", "text": {"tag": "plain_text", "content": TEXT}},
        {"tag": "div", "text": {"tag": "lark_md", "content": f"<at id={OU_LI}></at>"}},
    ]
    nobody = shown(feishu.encode(channel(secret=None), payload(recipients=None), AT))
    assert nobody == {
        "msg_type": "interactive",
        "card": {
            "header": {"title": TITLE, "template": "red"},
            "elements": [{"tag": "div", "text": {"tag": "plain_text", "content": TEXT}}],
        },
    }


def test_the_text_is_plain_so_a_report_cannot_mention_anyone() -> None:
    body = shown(feishu.encode(channel(), payload(text="<at id=all></at> **粗体** [链接](http://x)"), AT))
    assert body["card"]["elements"][0]["text"] == {
        "tag": "plain_text",
        "content": "<at id=all></at> **粗体** [链接](http://x)",
    }
    assert body["card"]["header"]["title"]["content"] == "【紧急信息提醒】"


def people(n: int, *, link_padding: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "role": "duty_officer",
            "name": f"值班{i}",
            "phone": f"138000001{i:02d}",
            "ack_url": f"{ACK_LI}-{i}" + "a" * link_padding,
            "feishu_user_id": f"ou_{i:032x}",
        }
        for i in range(n)
    ]


async def test_a_long_text_is_cut_within_20_kb_keeping_every_button(client: httpx.AsyncClient) -> None:
    long = "现场情况：" + "火势已得到控制，群众已疏散。" * 1500
    many = people(30)
    async with bot(HOOK_ID, SECRET, AT, keywords=("预警",)) as hook:
        await feishu.send(
            client, channel(hook.url, keywords=("预警",)), payload(text=long, recipients=many), now=lambda: AT
        )
    [got] = hook.received
    assert 20_480 - 3 <= len(got.raw) <= 20_480  # as much text as fits
    elements = got.body["card"]["elements"]
    assert elements[0]["text"]["content"].startswith("【预警】现场情况：") and elements[0]["text"][
        "content"
    ].endswith("…")
    assert hook.mentioned() == [p["feishu_user_id"] for p in many]
    assert [b["url"] for b in elements[-1]["actions"]] == [p["ack_url"] for p in many]
    assert len(hook.shown) == 1


def test_a_text_that_fits_exactly_is_not_cut() -> None:
    one = payload(recipients=people(1))
    room = feishu.MAX_BODY - len(feishu.encode(channel(), {**one, "text": ""}, AT))
    exact = {**one, "text": "火" * (room // 3) + "x" * (room % 3)}
    assert len(feishu.encode(channel(), exact, AT)) == feishu.MAX_BODY and feishu.fits(channel(), exact)
    over = {**one, "text": exact["text"] + "x"}
    assert not feishu.fits(channel(), over)
    cut = shown(feishu.encode(channel(), over, AT))["card"]["elements"][0]["text"]["content"]
    assert cut.endswith("…") and len(feishu.encode(channel(), over, AT)) <= feishu.MAX_BODY


def test_buttons_that_alone_exceed_the_limit_are_permanent() -> None:
    with pytest.raises(PermanentDelivery, match=r"^feishu message over 20480 bytes without its text$"):
        feishu.encode(channel(), payload(recipients=people(80, link_padding=200)), AT)


# --- digests -------------------------------------------------------------------------------------


def digest(members: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "event": "digest",
        "idempotency_key": "digest:duty_feishu:1",
        "text": f"【紧急信息提醒·汇总】以下 {len(members)} 条提醒同时到期：",
        "members": members,
    }


def test_a_digest_is_one_card_with_each_members_buttons_and_the_union_of_mentions() -> None:
    first = payload(recipients=known(li=OU_LI, wang=OU_WANG))
    second = payload(
        text="【紧急信息提醒·首报超时】城关镇「山体滑坡」首报超时。", recipients=known(li=OU_LI)[:1]
    )
    body = shown(feishu.encode(channel(), digest([first, second]), AT))
    assert body["card"] == {
        "header": {"title": {"tag": "plain_text", "content": "【紧急信息提醒·汇总】"}, "template": "red"},
        "elements": [
            {
                "tag": "div",
                "text": {"tag": "plain_text", "content": "【紧急信息提醒·汇总】以下 2 条提醒同时到期："},
            },
            {
                "tag": "div",
                "text": {"tag": "lark_md", "content": f"<at id={OU_LI}></at> <at id={OU_WANG}></at>"},
            },
            {"tag": "hr"},
            {"tag": "div", "text": {"tag": "plain_text", "content": TEXT}},
            {
                "tag": "action",
                "actions": [button("值班员李四 签收", ACK_LI), button("带班领导王五 签收", ACK_WANG)],
            },
            {"tag": "hr"},
            {
                "tag": "div",
                "text": {
                    "tag": "plain_text",
                    "content": "【紧急信息提醒·首报超时】城关镇「山体滑坡」首报超时。",
                },
            },
            {"tag": "action", "actions": [button("值班员李四 签收", ACK_LI)]},
        ],
    }
    assert set(body) == {"timestamp", "sign", "msg_type", "card"}


def test_fits_tells_main_where_to_split_a_digest() -> None:
    member = payload(recipients=people(2))
    counts = [n for n in range(1, 80) if feishu.fits(channel(), digest([member] * n))]
    assert counts == list(range(1, len(counts) + 1)) and 10 < len(counts) < 79
    too_many = digest([member] * (len(counts) + 1))
    assert len(feishu.encode(channel(), digest([member] * len(counts)), AT)) <= feishu.MAX_BODY
    cut = shown(feishu.encode(channel(), too_many, AT))  # sent anyway: the texts are cut, not a button
    buttons = [b for e in cut["card"]["elements"] if e["tag"] == "action" for b in e["actions"]]
    assert len(buttons) == 2 * (len(counts) + 1)


async def test_the_bot_takes_a_digest_within_its_limits(client: httpx.AsyncClient) -> None:
    members = [payload(recipients=people(2)) for _ in range(5)]
    async with bot(HOOK_ID, SECRET, AT, keywords=("紧急信息提醒",)) as hook:
        await feishu.send(
            client, channel(hook.url, keywords=("紧急信息提醒",)), digest(members), now=lambda: AT
        )
    assert len(hook.shown) == 1 and hook.mentioned() == [p["feishu_user_id"] for p in people(2)]
