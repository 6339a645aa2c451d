"""The Aliyun SMS integration against SendSms on 127.0.0.1 checking requests as Aliyun does
(tests/aliyun_sms.py), the ACS3 worked example, retry versus permanent for each code, partial
success, OutId, its policy model, and the test message's words for its failures."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alerting.errors import PartialDelivery, PermanentDelivery, RetryableDelivery
from alerting.policy.channels import AliyunSmsChannel
from alerting.policy.loader import parse_policy
from escalation.notify import aliyun_sms, dispatch, probe
from tests.aliyun_sms import aliyun
from tests.support import answering, free_port, serve
from tests.unit.test_integrations import KEY, payload
from tests.unit.test_policy import ENV, EXAMPLE, error
from tests.unit.test_tencent_sms import coded

KEY_ID = "LTAI5tTestAccessKeyId00"
SECRET = "aliyun-access-key-secret-0123456789"
AT = datetime(2024, 5, 1, 2, 0, 5, tzinfo=UTC)
LI, WANG = "13800000001", "13800000002"
PARAMS = {"township": "township", "kind": "deadline", "due": "due", "code": "code"}


def channel(endpoint: str, **fields: Any) -> AliyunSmsChannel:
    values: dict[str, Any] = {
        "type": "aliyun_sms",
        "endpoint": endpoint,
        "access_key_id": KEY_ID,
        "access_key_secret": SECRET,
        "sign_name": "县委办",
        "template": "SMS_465000001",
        "template_without_code": "SMS_465000002",
        "template_params": PARAMS,
    }
    return AliyunSmsChannel(**(values | fields))


def receiver(**fields: Any) -> Any:
    templates = {"SMS_465000001": set(PARAMS), "SMS_465000002": {"township", "kind", "due"}}
    return aliyun(**({"access_key_id": KEY_ID, "secret": SECRET, "now": AT, "templates": templates} | fields))


async def send(
    client: httpx.AsyncClient, ch: AliyunSmsChannel, body: dict[str, Any], at: datetime = AT
) -> None:
    await aliyun_sms.send(client, ch, body, KEY, now=lambda: at)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


# --- ACS3 -----------------------------------------------------------------------------------------


def test_the_published_acs3_example() -> None:
    """help.aliyun.com "V3版本请求体&签名机制": RunInstances on ecs.cn-shanghai with its fixed inputs."""
    empty = hashlib.sha256(b"").hexdigest()
    query = aliyun_sms.canonical_query(
        {"RegionId": "cn-shanghai", "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"}
    )
    assert query == "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai"
    headers = {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-content-sha256": empty,
        "x-acs-date": "2023-10-26T10:22:32Z",
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-version": "2014-05-26",
    }
    assert aliyun_sms.authorization("YourAccessKeyId", "YourAccessKeySecret", query, headers, b"") == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )


def test_rfc3986_encoding() -> None:
    assert aliyun_sms.encode("a b*c~d+é,{}") == "a%20b%2Ac~d%2B%C3%A9%2C%7B%7D"


async def test_each_person_gets_their_own_code_signed_as_aliyun_checks(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        await send(client, channel(hook.url), coded())
    assert sorted((d.numbers[0], d.template, d.out_id) for d in hook.delivered) == [
        (LI, "SMS_465000001", KEY),
        (WANG, "SMS_465000001", KEY),
    ]
    by_number = {d.numbers[0]: d.params for d in hook.delivered}
    assert by_number[LI] == {
        "township": "城关镇",
        "kind": "值班员签收超时",
        "due": "5月1日10:00",
        "code": "7K3M9QW2XP",
    }
    assert by_number[WANG]["code"] == "4HT6RZ8C1N"


async def test_recipients_without_a_link_share_one_request(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        await send(client, channel(hook.url), payload(township="城关镇"))
    [only] = hook.delivered
    assert (only.numbers, only.template) == ([LI, WANG], "SMS_465000002") and "code" not in only.params


async def test_a_wrong_secret_is_a_permanent_signature_failure(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        with pytest.raises(PermanentDelivery) as info:
            await send(client, channel(hook.url, access_key_secret="wrong"), payload(township="城关镇"))
    assert str(info.value) == "aliyun_sms SignatureDoesNotMatch (signature)"
    assert hook.delivered == []


@pytest.mark.parametrize(
    ("skew", "delivered"), [(timedelta(minutes=14), True), (timedelta(minutes=16), False)]
)
async def test_a_clock_more_than_fifteen_minutes_off_is_reported_as_clock_skew(
    client: httpx.AsyncClient, skew: timedelta, delivered: bool
) -> None:
    async with receiver() as hook:
        for n, at in enumerate((AT - skew, AT + skew)):
            hook.now = AT + timedelta(minutes=2 * n)
            if delivered:
                await send(
                    client, channel(hook.url), payload(township="城关镇"), at + timedelta(minutes=2 * n)
                )
            else:
                with pytest.raises(PermanentDelivery) as info:
                    await send(
                        client, channel(hook.url), payload(township="城关镇"), at + timedelta(minutes=2 * n)
                    )
                assert str(info.value) == "aliyun_sms InvalidTimeStamp.Expired (clock skew?)"
    assert len(hook.delivered) == (2 if delivered else 0)


async def test_links_are_cleaned_out_of_variables_and_values_cut(client: httpx.AsyncClient) -> None:
    title = "详见 https://x.cn/a 与 www.gov.cn 及 county.gov.cn，3.5级" + "火" * 40
    async with receiver(templates={"SMS_465000001": {"t", "code"}}) as hook:
        ch = channel(hook.url, template_params={"t": "title", "code": "code"}, template_without_code=None)
        await send(client, ch, coded(incident={"title": title}))
        hook.script.append(hook.answer("isv.PARAM_NOT_SUPPORT_URL", "不支持URL"))
        hook.now += timedelta(minutes=2)
        with pytest.raises(
            PermanentDelivery, match=r"^aliyun_sms isv\.PARAM_NOT_SUPPORT_URL for 1 of 2 numbers$"
        ):
            await send(client, ch, coded(), hook.now)
    values = {d.params["t"] for d in hook.delivered[:2]}
    assert values == {"详见 与 及 ，3.5级" + "火" * 22 + "…"} and len(values.pop()) == 35


async def test_a_number_sent_to_within_the_minute_is_retried_alone(client: httpx.AsyncClient) -> None:
    async with receiver() as hook:
        await send(client, channel(hook.url), coded(recipients=coded()["recipients"][1:]))
        with pytest.raises(PartialDelivery) as info:
            await send(client, channel(hook.url), coded())
        assert str(info.value) == "aliyun_sms isv.BUSINESS_LIMIT_CONTROL for 1 of 2 numbers"
        assert (info.value.settled, info.value.retry_after) == ({LI: "sent"}, timedelta(minutes=1))
        retried = coded()
        retried["recipients"][0]["sms_settled"] = "sent"
        hook.now += timedelta(minutes=1)
        await send(client, channel(hook.url), retried, hook.now)
    assert [d.numbers for d in hook.delivered] == [[WANG], [LI], [WANG]]


def test_out_id_is_the_key_or_a_digest_of_it() -> None:
    assert aliyun_sms.out_id("inc-7:ack:1:1") == "inc-7:ack:1:1"
    for key in ("silence:城关镇:2024-05-01", "x" * 65):
        short = aliyun_sms.out_id(key)
        assert len(short) == 64 and short == aliyun_sms.out_id(key) and short.startswith("k")


# --- answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "retryable", "wait", "reason"),
    [
        ("isp.SYSTEM_ERROR", 200, True, None, ""),
        ("isv.BUSINESS_LIMIT_CONTROL", 200, True, timedelta(minutes=1), ""),
        ("Throttling.User", 400, True, None, ""),
        ("ServiceUnavailable", 503, True, None, ""),
        ("SignatureNonceUsed", 400, True, None, ""),
        ("InvalidTimeStamp.Expired", 400, False, None, " (clock skew?)"),
        ("SignatureDoesNotMatch", 400, False, None, " (signature)"),
        ("IncompleteSignature", 400, False, None, " (signature)"),
        ("InvalidAccessKeyId.NotFound", 404, False, None, ""),
        *[
            (code, 200, False, None, "")
            for code in (
                "isv.PARAM_NOT_SUPPORT_URL",
                "isv.PARAM_LENGTH_LIMIT",
                "isv.SMS_TEMPLATE_ILLEGAL",
                "isv.SMS_SIGNATURE_ILLEGAL",
                "isv.MOBILE_NUMBER_ILLEGAL",
                "isv.AMOUNT_NOT_ENOUGH",
                "isv.DAY_LIMIT_CONTROL",
                "isv.OUT_OF_SERVICE",
                "isp.RAM_PERMISSION_DENY",
                "isv.SOMETHING_NEW",
            )
        ],
    ],
)
async def test_retry_versus_permanent_for_each_code(
    client: httpx.AsyncClient, code: str, status: int, retryable: bool, wait: timedelta | None, reason: str
) -> None:
    leaky = {"Code": code, "Message": f"{KEY_ID} {SECRET} {LI}", "RequestId": "r"}
    async with receiver(script=[(status, leaky)]) as hook:
        with pytest.raises(RetryableDelivery if retryable else PermanentDelivery) as info:
            await send(client, channel(hook.url), payload(township="城关镇"))
    assert str(info.value) == f"aliyun_sms {code}{reason}"
    assert getattr(info.value, "retry_after", None) == wait
    for secret in (KEY_ID, SECRET, LI, "127.0.0.1"):
        assert secret not in str(info.value)
    assert retryable == probe.explain(str(info.value), retryable).endswith("会自动重试")


async def test_http_failures_and_answers_without_a_code(client: httpx.AsyncClient) -> None:
    answers = [(502, b"bad gateway"), (403, b""), (200, b"<html>proxy</html>")]
    async with serve(answering(answers, []), free_port()) as base:
        with pytest.raises(RetryableDelivery, match=r"^HTTP 502$"):
            await send(client, channel(base), payload(township="城关镇"))
        with pytest.raises(PermanentDelivery, match=r"^HTTP 403$"):
            await send(client, channel(base), payload(township="城关镇"))
        with pytest.raises(RetryableDelivery, match=r"^HTTP 200 without an Aliyun code$"):
            await send(client, channel(base), payload(township="城关镇"))


async def test_a_refused_connection_hides_the_secret(client: httpx.AsyncClient) -> None:
    ch = channel(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RetryableDelivery) as info:
        await dispatch.send(client, ch, coded(), KEY)
    assert str(info.value) == "transport error: ConnectError"
    assert SECRET not in repr(ch) and SECRET not in str(ch.model_dump())


def test_the_test_messages_words() -> None:
    words = probe.explain("aliyun_sms isv.BUSINESS_LIMIT_CONTROL", True)
    assert words.startswith("阿里云短信返回 isv.BUSINESS_LIMIT_CONTROL：同一手机号发送过于频繁")
    assert "clock skew" in probe.explain("aliyun_sms InvalidTimeStamp.Expired (clock skew?)", False)
    assert probe.TYPE_ZH["aliyun_sms"] == "阿里云短信"


# --- policy -------------------------------------------------------------------------------------

ALIYUN = """
[channels.duty_sms]
type = "aliyun_sms"
access_key_id = "${ALERTING_ALIYUN_ACCESS_KEY_ID}"
access_key_secret = "${ALERTING_ALIYUN_ACCESS_KEY_SECRET}"
sign_name = "县委办"
template = "SMS_465000001"
template_without_code = "SMS_465000002"
template_params = { township = "township", kind = "deadline", due = "due", code = "code" }
"""
ALIYUN_ENV = {**ENV, "ALERTING_ALIYUN_ACCESS_KEY_ID": KEY_ID, "ALERTING_ALIYUN_ACCESS_KEY_SECRET": SECRET}


def test_an_aliyun_channel_loads_from_the_policy() -> None:
    ch = parse_policy(EXAMPLE + ALIYUN, env=ALIYUN_ENV).channels["duty_sms"]
    assert ch == channel("https://dysmsapi.aliyuncs.com")
    assert (ch.param_max_chars, ch.timezone, ch.url) == (35, "Asia/Shanghai", "https://dysmsapi.aliyuncs.com")
    assert SECRET not in repr(ch)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('code = "code" }', 'code = "ack_url" }', "channels.duty_sms.aliyun_sms.template_params.code"),
        ("{ township", '{ "bad-name" = "title", township', "channels.duty_sms.aliyun_sms.template_params"),
        (
            'sign_name = "县委办"',
            'sign_name = "县委办"\nendpoint = "ftp://x"',
            "channels.duty_sms.aliyun_sms.endpoint",
        ),
        ('sign_name = "县委办"', 'sign_name = "县委办"\nparam_max_chars = 9', "channels.duty_sms.aliyun_sms"),
        (
            'access_key_id = "${ALERTING_ALIYUN_ACCESS_KEY_ID}"',
            "",
            "channels.duty_sms.aliyun_sms.access_key_id",
        ),
    ],
)
def test_a_bad_aliyun_channel_is_refused_naming_the_key(old: str, new: str, key: str) -> None:
    err = error(EXAMPLE + ALIYUN.replace(old, new), env=ALIYUN_ENV)
    assert err.key is not None and err.key.startswith(key)
    assert SECRET not in str(err)
