"""The Tencent Cloud SMS integration against SendSms on 127.0.0.1 checking requests as Tencent does
(tests/tencent_sms.py), the TC3 worked example, retry versus permanent for each code, partial
success, its policy model, and the test message's words for its failures."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alerting.errors import PartialDelivery, PermanentDelivery, RetryableDelivery
from alerting.policy.channels import TencentSmsChannel
from alerting.policy.loader import parse_policy
from escalation.notify import dispatch, probe, tencent_sms
from tests.support import answering, free_port, serve
from tests.tencent_sms import TencentSms, tencent
from tests.unit.test_integrations import KEY, payload
from tests.unit.test_policy import ENV, EXAMPLE, error

SECRET_ID = "AKIDtest0000000000000000000000000000"
SECRET_KEY = "tc-secret-key-0123456789abcdef"
APP = "1400123456"
AT = datetime(2024, 5, 1, 2, 0, 5, tzinfo=UTC)
LI, WANG = "+8613800000001", "+8613800000002"


def channel(endpoint: str, **fields: Any) -> TencentSmsChannel:
    values: dict[str, Any] = {
        "type": "tencent_sms",
        "endpoint": endpoint,
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sms_sdk_app_id": APP,
        "sign_name": "县委办",
        "template": "2001",
        "template_without_code": "2002",
        "template_params": ("township", "deadline", "due", "code"),
    }
    return TencentSmsChannel(**(values | fields))


def coded(**changes: Any) -> dict[str, Any]:
    """test_integrations.payload with each person's acknowledgement code, as the outbox stage adds."""
    people = [
        dict(r, ack_code=code)
        for r, code in zip(payload()["recipients"], ("7K3M9QW2XP", "4HT6RZ8C1N"), strict=True)
    ]
    return payload(township="城关镇", **({"recipients": people} | changes))


def receiver(**fields: Any) -> Any:
    values = {"secret_id": SECRET_ID, "secret_key": SECRET_KEY, "app_id": APP, "now": AT}
    return tencent(**(values | {"templates": {"2001": 4, "2002": 3}} | fields))


async def send(
    client: httpx.AsyncClient, ch: TencentSmsChannel, body: dict[str, Any], at: datetime = AT
) -> None:
    await tencent_sms.send(client, ch, body, KEY, now=lambda: at)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


# --- TC3 ------------------------------------------------------------------------------------------

# Tencent Cloud's published worked example (API 3.0 签名方法 v3; the same vector in the SDKs' tests).
EXAMPLE_BODY = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'


def test_the_published_tc3_example() -> None:
    assert hashlib.sha256(EXAMPLE_BODY).hexdigest() == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    canonical = tencent_sms.canonical_request("cvm.tencentcloudapi.com", EXAMPLE_BODY)
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    header = tencent_sms.authorization(
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        "Gu5t9xGARNpq86cd98joQYCN3*******",
        "cvm.tencentcloudapi.com",
        EXAMPLE_BODY,
        1551113065,
        service="cvm",
    )
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request,"
        " SignedHeaders=content-type;host,"
        " Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


async def test_each_person_gets_their_own_code_signed_as_tencent_checks(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        await send(client, channel(hook.url), coded())
    assert sorted((d.number, d.template, tuple(d.params), d.session) for d in hook.delivered) == [
        (LI, "2001", ("城关镇", "值班员签收超时", "5月1日10:00", "7K3M9QW2XP"), KEY),
        (WANG, "2001", ("城关镇", "值班员签收超时", "5月1日10:00", "4HT6RZ8C1N"), KEY),
    ]
    assert all(r["PhoneNumberSet"] in ([LI], [WANG]) for r in hook.received)  # a code to its own number


async def test_recipients_without_a_link_share_the_template_without_code(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        await send(client, channel(hook.url), payload(township="城关镇"))
        hook.now += timedelta(minutes=1)
        await send(
            client, channel(hook.url, template_without_code=None), payload(township="城关镇"), hook.now
        )
    first, second = hook.received
    assert first["PhoneNumberSet"] == [LI, WANG] and first["TemplateId"] == "2002"
    assert first["TemplateParamSet"] == ["城关镇", "值班员签收超时", "5月1日10:00"]
    assert second["TemplateId"] == "2001" and second["TemplateParamSet"][-1] == "无"


async def test_a_wrong_secret_is_a_permanent_signature_failure(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        with pytest.raises(PermanentDelivery) as info:
            await send(client, channel(hook.url, secret_key="another-secret"), coded())
    assert str(info.value) == "tencent_sms AuthFailure.SignatureFailure (signature)"
    assert hook.delivered == []


@pytest.mark.parametrize(("skew", "delivered"), [(timedelta(minutes=4), True), (timedelta(minutes=6), False)])
async def test_a_clock_more_than_five_minutes_off_is_reported_as_clock_skew(
    client: httpx.AsyncClient, skew: timedelta, delivered: bool
) -> None:
    async with receiver() as hook:
        for n, at in enumerate((AT - skew, AT + skew)):
            hook.now = AT + timedelta(minutes=n)  # past the 30-second limit per number
            if delivered:
                await send(client, channel(hook.url), coded(), at + timedelta(minutes=n))
            else:
                with pytest.raises(PermanentDelivery) as info:
                    await send(client, channel(hook.url), coded(), at + timedelta(minutes=n))
                assert str(info.value) == "tencent_sms AuthFailure.SignatureExpire (clock skew?)"
    assert len(hook.delivered) == (4 if delivered else 0)


async def test_a_link_in_a_variable_is_refused_and_never_sent(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        ch = channel(hook.url, template_params=("title", "code"), template="2003", template_without_code=None)
        hook.templates["2003"] = 2
        body = coded(incident={"title": "详见 http://x.cn/a 与 www.gov.cn", "level": "II"})
        await send(client, ch, body)
        answer = await client.post(hook.url, content=b"{}", headers={"Authorization": "x"})
    assert [r["TemplateParamSet"][0] for r in hook.received] == ["详见 与", "详见 与"]
    assert answer.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
    refused = TencentSms(secret_id="", secret_key="", app_id="", now=AT).refuse(
        "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter", "template parameters cannot contain URL"
    )
    async with receiver(script=[refused]) as hook:
        with pytest.raises(PermanentDelivery, match=r"^tencent_sms InvalidParameterValue\.ProhibitedUse"):
            await send(client, channel(hook.url), coded(recipients=coded()["recipients"][:1]))


async def test_a_variable_over_twelve_characters_is_cut_never_a_code(client: httpx.AsyncClient) -> None:
    long = "城关镇某化工企业仓库发生较大火情"
    async with receiver(templates={"2001": 2}) as hook:
        await send(
            client, channel(hook.url, template_params=("title", "code")), coded(incident={"title": long})
        )
        hook.now += timedelta(minutes=1)
        with pytest.raises(PermanentDelivery, match="TemplateParameterLengthLimit"):
            await send(
                client,
                channel(hook.url, template_params=("title", "code"), param_max_chars=40),
                coded(incident={"title": long}),
                hook.now,
            )
    assert sorted(d.params for d in hook.delivered) == [
        ["城关镇某化工企业仓库发…", "4HT6RZ8C1N"],
        ["城关镇某化工企业仓库发…", "7K3M9QW2XP"],
    ]


# --- partial success ------------------------------------------------------------------------------


async def test_only_the_numbers_that_failed_retryably_are_sent_again(client: httpx.AsyncClient) -> None:
    async with receiver(number_codes={WANG: "LimitExceeded.PhoneNumberThirtySecondLimit"}) as hook:
        with pytest.raises(PartialDelivery) as info:
            await send(client, channel(hook.url), coded())
        assert str(info.value) == "tencent_sms LimitExceeded.PhoneNumberThirtySecondLimit for 1 of 2 numbers"
        assert info.value.retry_after == timedelta(seconds=30)
        assert info.value.settled == {"13800000001": "sent"}
        assert "1380000000" not in str(info.value)
        # The outbox stage marks the settled number on the next attempt (ack_codes.with_ack_codes).
        retried = coded()
        retried["recipients"][0]["sms_settled"] = "sent"
        hook.now += timedelta(seconds=31)
        await send(client, channel(hook.url), retried, hook.now)
    assert [d.number for d in hook.delivered] == [LI, WANG]
    assert [r["PhoneNumberSet"] for r in hook.received][-1] == [WANG]


async def test_a_number_refused_for_good_fails_the_notification_once_the_others_are_settled(
    client: httpx.AsyncClient,
) -> None:
    codes = {LI: "FailedOperation.PhoneNumberInBlacklist", WANG: "InternalError.Timeout"}
    async with receiver(number_codes=codes) as hook:
        with pytest.raises(PartialDelivery) as info:
            await send(client, channel(hook.url), coded())
        assert info.value.settled == {"13800000001": "tencent_sms FailedOperation.PhoneNumberInBlacklist"}
        retried = coded()
        retried["recipients"][0]["sms_settled"] = info.value.settled["13800000001"]
        with pytest.raises(PermanentDelivery) as final:
            await send(client, channel(hook.url), retried)
    assert str(final.value) == "tencent_sms FailedOperation.PhoneNumberInBlacklist for 1 of 2 numbers"
    assert [d.number for d in hook.delivered] == [WANG]


async def test_every_number_settled_earlier_sends_nothing(client: httpx.AsyncClient) -> None:
    body = coded()
    for r in body["recipients"]:
        r["sms_settled"] = "sent"
    async with receiver() as hook:
        await send(client, channel(hook.url), body)
    assert hook.received == []


async def test_landlines_are_left_out_and_no_mobile_is_permanent(client: httpx.AsyncClient) -> None:
    people = [{"role": "duty_officer", "name": "李四", "phone": "0791-80000001"}]
    async with receiver() as hook:
        with pytest.raises(PermanentDelivery, match=r"^no recipient mobile numbers$"):
            await send(client, channel(hook.url), payload(recipients=people))
    assert hook.received == []


async def test_more_than_200_numbers_go_in_several_requests(client: httpx.AsyncClient) -> None:
    people = [{"role": "x", "name": f"n{n}", "phone": f"139{n:08d}"} for n in range(450)]
    async with receiver() as hook:
        await send(client, channel(hook.url), payload(recipients=people))
    assert sorted(len(r["PhoneNumberSet"]) for r in hook.received) == [50, 200, 200]
    assert len(hook.delivered) == 450


# --- answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "retryable", "wait", "reason"),
    [
        ("RequestLimitExceeded", True, None, ""),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", True, None, ""),
        ("InternalError.Timeout", True, None, ""),
        ("InternalError.SendAndRecvFail", True, None, ""),
        ("LimitExceeded.PhoneNumberThirtySecondLimit", True, timedelta(seconds=30), ""),
        ("LimitExceeded.DeliveryFrequencyLimit", True, timedelta(minutes=1), ""),
        ("InternalError.RequestTimeException", False, None, " (clock skew?)"),
        ("AuthFailure.SignatureExpire", False, None, " (clock skew?)"),
        ("AuthFailure.SignatureFailure", False, None, " (signature)"),
        *[
            (code, False, None, "")
            for code in (
                "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
                "InvalidParameterValue.TemplateParameterLengthLimit",
                "FailedOperation.TemplateIncorrectOrUnapproved",
                "FailedOperation.SignatureIncorrectOrUnapproved",
                "FailedOperation.PhoneNumberInBlacklist",
                "UnauthorizedOperation.RequestIpNotInWhitelist",
                "LimitExceeded.PhoneNumberOneHourLimit",
                "LimitExceeded.PhoneNumberDailyLimit",
                "AuthFailure.SecretIdNotFound",
                "FailedOperation.InsufficientBalanceInSmsPackage",
                "Something.New",
            )
        ],
    ],
)
async def test_retry_versus_permanent_for_each_code(
    client: httpx.AsyncClient, code: str, retryable: bool, wait: timedelta | None, reason: str
) -> None:
    leaky = f"{SECRET_ID} {SECRET_KEY} {LI}"
    whole = {"Response": {"Error": {"Code": code, "Message": leaky}, "RequestId": "r"}}
    each = {
        "Response": {
            "SendStatusSet": [{"PhoneNumber": n, "Code": code, "Message": leaky} for n in (LI, WANG)],
            "RequestId": "r",
        }
    }
    for answer in (whole, each):
        async with receiver(script=[answer], templates={"2002": 3}) as hook:
            with pytest.raises(RetryableDelivery if retryable else PermanentDelivery) as info:
                await send(client, channel(hook.url), payload(township="城关镇"))
        assert str(info.value) == f"tencent_sms {code}{reason}"
        assert getattr(info.value, "retry_after", None) == wait
        assert not isinstance(info.value, PartialDelivery)
        for secret in (SECRET_ID, SECRET_KEY, "13800000001", "127.0.0.1"):
            assert secret not in str(info.value)
        assert retryable == probe.explain(str(info.value), retryable).endswith("会自动重试")


async def test_http_failures_and_answers_that_are_not_tencents(client: httpx.AsyncClient) -> None:
    answers = [(503, b"{}"), (429, b""), (400, b"x"), (200, b"<html>proxy</html>"), (200, b'{"Response":{}}')]
    async with serve(answering(answers, [(b"retry-after", b"7")]), free_port()) as base:
        ch = channel(base)
        with pytest.raises(RetryableDelivery, match=r"^HTTP 503$") as info:
            await send(client, ch, coded(recipients=coded()["recipients"][:1]))
        assert info.value.retry_after == timedelta(seconds=7)
        with pytest.raises(RetryableDelivery, match=r"^HTTP 429$"):
            await send(client, ch, coded(recipients=coded()["recipients"][:1]))
        with pytest.raises(PermanentDelivery, match=r"^HTTP 400$"):
            await send(client, ch, coded(recipients=coded()["recipients"][:1]))
        with pytest.raises(RetryableDelivery, match=r"^HTTP 200 without a Tencent Cloud answer$"):
            await send(client, ch, coded(recipients=coded()["recipients"][:1]))
        with pytest.raises(RetryableDelivery, match=r"^tencent_sms no status for the number$"):
            await send(client, ch, coded(recipients=coded()["recipients"][:1]))


async def test_a_refused_connection_hides_the_secrets(client: httpx.AsyncClient) -> None:
    ch = channel(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RetryableDelivery) as info:
        await dispatch.send(client, ch, coded(), KEY)
    assert str(info.value) == "transport error: ConnectError"
    assert SECRET_KEY not in repr(ch) and SECRET_KEY not in str(ch.model_dump())


def test_the_test_messages_words() -> None:
    words = probe.explain("tencent_sms LimitExceeded.PhoneNumberThirtySecondLimit for 1 of 2 numbers", True)
    assert words.startswith("腾讯云短信返回 LimitExceeded.PhoneNumberThirtySecondLimit：同一手机号 30 秒内")
    assert "（2 个号码中的 1 个）" in words
    skew = probe.explain("tencent_sms InternalError.RequestTimeException (clock skew?)", False)
    assert "时钟" in skew and "clock skew" in skew
    assert probe.TYPE_ZH["tencent_sms"] == "腾讯云短信"


# --- policy -------------------------------------------------------------------------------------

TENCENT = """
[channels.duty_sms]
type = "tencent_sms"
secret_id = "${ALERTING_TENCENT_SECRET_ID}"
secret_key = "${ALERTING_TENCENT_SECRET_KEY}"
sms_sdk_app_id = "1400123456"
sign_name = "县委办"
template = "2001"
template_without_code = "2002"
template_params = ["township", "deadline", "due", "code"]
"""
TENCENT_ENV = {**ENV, "ALERTING_TENCENT_SECRET_ID": SECRET_ID, "ALERTING_TENCENT_SECRET_KEY": SECRET_KEY}


def test_a_tencent_channel_loads_from_the_policy() -> None:
    ch = parse_policy(EXAMPLE + TENCENT, env=TENCENT_ENV).channels["duty_sms"]
    assert ch == channel("https://sms.tencentcloudapi.com")
    assert (ch.region, ch.param_max_chars, ch.timeout, ch.max_attempts) == (
        "ap-guangzhou",
        12,
        timedelta(seconds=10),
        6,
    )
    assert SECRET_KEY not in repr(ch)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('"due", "code"]', '"due", "url"]', "channels.duty_sms.tencent_sms.template_params.3"),
        (
            'sms_sdk_app_id = "1400123456"',
            'sms_sdk_app_id = "app"',
            "channels.duty_sms.tencent_sms.sms_sdk_app_id",
        ),
        ('template = "2001"', 'template = "SMS_1"', "channels.duty_sms.tencent_sms.template"),
        (
            'sign_name = "县委办"',
            'sign_name = "县委办"\nregion = "ap-mars"',
            "channels.duty_sms.tencent_sms.region",
        ),
        (
            'sign_name = "县委办"',
            'sign_name = "县委办"\nparam_max_chars = 6',
            "channels.duty_sms.tencent_sms",
        ),
        (
            'sign_name = "县委办"',
            'sign_name = "县委办"\ntimezone = "Mars/Olympus"',
            "channels.duty_sms.tencent_sms.timezone",
        ),
        (
            'sign_name = "县委办"',
            'sign_name = "县委办"\nsecret = "x"',
            "channels.duty_sms.tencent_sms.secret",
        ),
    ],
)
def test_a_bad_tencent_channel_is_refused_naming_the_key(old: str, new: str, key: str) -> None:
    err = error(EXAMPLE + TENCENT.replace(old, new), env=TENCENT_ENV)
    assert err.key == key
    assert SECRET_KEY not in str(err)


def test_the_receiver_is_tencents_shape() -> None:
    hook = TencentSms(secret_id="a", secret_key="b", app_id="1", now=AT)
    assert hook.refuse("X", "y")["Response"]["Error"] == {"Code": "X", "Message": "y"}
