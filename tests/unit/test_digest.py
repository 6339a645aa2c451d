"""Digests as the robots render them, their packing under the size limits, and channels' rates."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from alerting.county.channels import limits_zh
from alerting.policy.channels import DingtalkChannel, FeishuChannel, WecomChannel
from alerting.policy.rates import RateLimit, parse_rate
from escalation.notify import dingtalk, dispatch, wecom
from escalation.notify.digest import digest_key, digest_payload, pack
from tests.unit.test_policy import ENV, EXAMPLE, error

WECOM = "http://127.0.0.1:9/cgi-bin/webhook/send?key=k"
DING = "http://127.0.0.1:9/robot/send?access_token=t"


def member(n: int, phone: str = "13800000001", title: str | None = None) -> dict[str, Any]:
    shown = title or f"塌方{n}号"
    return {
        "event": "deadline_missed",
        "idempotency_key": f"inc-{n}:followup:1:0",
        "text": f"【紧急信息提醒·续报超时】城关镇「{shown}」时限 08:00 已过，请值班员李四立即处理。",
        "summary": f"城关镇「{shown}」续报超时，时限 08:00",
        "recipients": [
            {
                "role": "duty_officer",
                "name": "李四",
                "phone": phone,
                "ack_url": f"http://127.0.0.1:8000/ack/t{n}",
            }
        ],
    }


def digest(*members: dict[str, Any]) -> dict[str, Any]:
    return digest_payload(list(members), digest_key(m["idempotency_key"] for m in members))


def test_a_digests_key_comes_from_its_members_in_any_order() -> None:
    assert digest_key(["a", "b"]) == digest_key(["b", "a"]) != digest_key(["a", "b", "c"])
    assert digest_key(["a"]).startswith("digest:") and len(digest_key(["a"])) == 47


def test_wecom_text_digest_lists_each_incident_with_its_link_and_mentions_everyone_once() -> None:
    channel = WecomChannel(type="wecom", url=WECOM)
    body = wecom.robot_body(channel, digest(member(1), member(2, "13800000002"), member(3)))
    assert body["text"]["content"] == "\n".join(
        [
            "【紧急信息提醒·汇总】以下 3 项时限已过，请立即处理：",
            "1. 城关镇「塌方1号」续报超时，时限 08:00",
            "值班员李四 签收: http://127.0.0.1:8000/ack/t1",
            "2. 城关镇「塌方2号」续报超时，时限 08:00",
            "值班员李四 签收: http://127.0.0.1:8000/ack/t2",
            "3. 城关镇「塌方3号」续报超时，时限 08:00",
            "值班员李四 签收: http://127.0.0.1:8000/ack/t3",
        ]
    )
    assert body["text"]["mentioned_mobile_list"] == ["13800000001", "13800000002"]


def test_wecom_markdown_shows_a_townships_brackets_as_written_not_as_a_link() -> None:
    channel = WecomChannel(type="wecom", url=WECOM, format="markdown")
    content = wecom.robot_body(channel, digest(member(1, title="[点此](http://evil.example)")))["markdown"][
        "content"
    ]
    assert "［点此］（http://evil.example）" in content
    assert "[值班员李四 签收](http://127.0.0.1:8000/ack/t1)" in content


@pytest.mark.parametrize(("fmt", "limit"), [("text", 2048), ("markdown", 4096)])
def test_packing_keeps_every_wecom_message_under_its_limit(fmt: str, limit: int) -> None:
    channel = WecomChannel(type="wecom", url=WECOM, format=fmt)  # type: ignore[arg-type]
    members = [member(n) for n in range(100)]
    fits = dispatch.digest_fits(channel)
    assert fits is not None
    groups = pack(members, lambda m: m, lambda m: m["idempotency_key"], fits)
    assert [m for g in groups for m in g] == members  # all, once, in order
    sizes = []
    for group in groups:
        body = wecom.robot_body(channel, digest(*group))
        content = body[fmt]["content"]
        sizes.append(len(content.encode()))
        assert all(f"/ack/t{m['idempotency_key'].split(':')[0][4:]}" in content for m in group)
    assert max(sizes) <= limit
    assert min(sizes[:-1]) > limit - 300  # each full: the next member would not have fitted


def test_a_member_too_large_to_share_goes_alone() -> None:
    channel = WecomChannel(type="wecom", url=WECOM)
    fits = dispatch.digest_fits(channel)
    assert fits is not None
    huge = member(9) | {"summary": "长" * 700}
    groups = pack([member(1), huge, member(2)], lambda m: m, lambda m: m["idempotency_key"], fits)
    assert groups == [[member(1)], [huge], [member(2)]]


def test_dingtalk_digest_is_markdown_with_links_mentions_keyword_and_its_key() -> None:
    channel = DingtalkChannel(type="dingtalk", url=DING, keywords=("应急",))
    payload = digest(member(1), member(2, "13800000002"))
    body = dingtalk.encode(channel, payload, payload["idempotency_key"])
    parsed = json.loads(body)
    assert parsed["msgtype"] == "markdown"
    assert parsed["markdown"]["title"] == "【应急】【紧急信息提醒·汇总】"
    assert parsed["markdown"]["text"].split("\n\n") == [
        "【应急】【紧急信息提醒·汇总】以下 2 项时限已过，请立即处理：",
        "1. 城关镇「塌方1号」续报超时，时限 08:00 [值班员李四 签收](http://127.0.0.1:8000/ack/t1)",
        "2. 城关镇「塌方2号」续报超时，时限 08:00 [值班员李四 签收](http://127.0.0.1:8000/ack/t2)",
        "@13800000001 @13800000002",
    ]
    assert parsed["at"] == {"atMobiles": ["13800000001", "13800000002"], "isAtAll": False}
    assert parsed["msgUuid"] == payload["idempotency_key"]
    assert dingtalk.fits(channel, payload)
    assert not dingtalk.fits(channel, digest(*[member(n) for n in range(200)]))


def test_only_robots_with_digest_on_take_digests() -> None:
    assert dispatch.digest_fits(WecomChannel(type="wecom", url=WECOM, digest=False)) is None
    assert dispatch.digest_fits(DingtalkChannel(type="dingtalk", url=DING)) is not None


def test_rates_parse_and_robots_default_to_twenty_a_minute() -> None:
    assert parse_rate("5/1s") == RateLimit(5, timedelta(seconds=1))
    assert parse_rate("100/1m").rule == "100/60s"
    assert WecomChannel(type="wecom", url=WECOM).rate_limits == (RateLimit(20, timedelta(minutes=1)),)
    for bad in ("20", "x/1m", "0/1m", "20/0s", "20/soon"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_a_bad_rate_stops_start_up_naming_the_key() -> None:
    policy = EXAMPLE.replace('type = "webhook"\n', 'type = "webhook"\nrate_limits = ["20 a minute"]\n', 1)
    message = str(error(policy, ENV))
    assert "rate_limits" in message and "COUNT/DURATION" in message


def test_a_channels_budget_in_words() -> None:
    feishu = FeishuChannel(type="feishu", url="http://127.0.0.1:9/open-apis/bot/v2/hook/abc")
    assert limits_zh(feishu) == "每分钟 100 条、每秒 5 条"
    assert (
        limits_zh(WecomChannel(type="wecom", url=WECOM, rate_limits=["30/10s", "1000/1d"]))
        == "每 10 秒 30 条、每天 1000 条"
    )
    assert limits_zh(DingtalkChannel(type="dingtalk", url=DING, rate_limits=[])) == ""
