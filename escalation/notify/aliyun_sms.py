"""Aliyun (阿里云) SMS: SendSms, version 2017-05-25, on dysmsapi.aliyuncs.com, signed with the V3
signature ACS3-HMAC-SHA256 (help.aliyun.com "V3版本请求体&签名机制"):

    canonical request  POST\\n/\\nCANONICAL_QUERY\\nCANONICAL_HEADERS\\nSIGNED_HEADERS\\nhex(sha256(body))
    string to sign     ACS3-HMAC-SHA256\\nhex(sha256(canonical request))
    signature          hex(HMAC-SHA256(AccessKey secret, string to sign))

where the query holds the parameters sorted and RFC 3986-encoded (as Aliyun's SDK sends SendSms:
PhoneNumbers, SignName, TemplateCode, TemplateParam as a JSON string, OutId) and the signed headers
are host, content-type and every x-acs-* header (action, version, date, signature nonce, content
hash), lower-cased and sorted. Aliyun answers {"Code":"OK",…} for the whole request.

Aliyun is not idempotent, and after a timeout it asks to check before resending. An alert unread is
worse than one read twice, so a timeout is retried; every request carries OutId (the notification's
key, shortened to 64 characters if need be) so that the county can match the console's send records
(QuerySendDetails shows OutId) with the notification. Each person's code makes their message their
own, so a notification is one request per person, and a number that got it is never sent to again.

No message raised here names the AccessKey, its secret, a phone number or Aliyun's Message text."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import AliyunSmsChannel
from escalation.notify.sms_templates import Batch, Outcome, plan
from escalation.notify.webhook import json_bytes, post_json, raise_for_status

PROVIDER = "aliyun_sms"
ACTION, VERSION = "SendSms", "2017-05-25"
ALGORITHM = "ACS3-HMAC-SHA256"
CONTENT_TYPE = "application/x-www-form-urlencoded"  # the SDK's for an RPC call; the body is empty
MAX_NUMBERS = 1000  # PhoneNumbers per request
MAX_OUT_ID = 64
OK = "OK"
RETRYABLE: dict[str, timedelta | None] = {
    "isp.SYSTEM_ERROR": None,
    # Aliyun's flow control per number (by default a minute, an hour and a day): wait out the minute.
    "isv.BUSINESS_LIMIT_CONTROL": timedelta(minutes=1),
    "Throttling": None,
    "Throttling.User": None,
    "Throttling.Api": None,
    "ServiceUnavailable": None,
    "SignatureNonceUsed": None,  # the next attempt has a fresh nonce
}
CLOCK_SKEW = {"InvalidTimeStamp.Expired"}
SIGNATURE = {"SignatureDoesNotMatch", "IncompleteSignature"}

# For probe.explain: Aliyun's codes in words for an office (the others are shown as they are).
ERRCODES_ZH = {
    "isp.SYSTEM_ERROR": "阿里云系统错误，稍后再试 / Aliyun system error",
    "isv.BUSINESS_LIMIT_CONTROL": "同一手机号发送过于频繁（业务限流：默认每分钟、每小时、每天各有上限）"
    " / too many to one number",
    "Throttling.User": "请求过于频繁 / too many requests",
    "isv.PARAM_NOT_SUPPORT_URL": "模板变量中不得含有链接 / a link in a variable",
    "isv.PARAM_LENGTH_LIMIT": "模板变量超过长度上限，请减小 param_max_chars / a variable is too long",
    "isv.SMS_TEMPLATE_ILLEGAL": "模板不存在或未审核通过，请检查 template / template not approved",
    "isv.SMS_SIGNATURE_ILLEGAL": "签名不存在或未审核通过，请检查 sign_name / signature name not approved",
    "isv.MOBILE_NUMBER_ILLEGAL": "手机号格式错误 / the number is not valid",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足 / the account's balance is used up",
    "isv.OUT_OF_SERVICE": "业务停机（余额不足）/ out of service",
    "isv.DAY_LIMIT_CONTROL": "已达控制台设置的日发送量上限 / the daily limit set in the console",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少取值，请检查 template_params / a variable has no value",
    "isv.INVALID_JSON_PARAM": "模板变量格式错误 / the variables are not valid JSON",
    "isp.RAM_PERMISSION_DENY": "AccessKey 没有短信发送权限（RAM）/ the key may not send SMS",
    "InvalidAccessKeyId.NotFound": "AccessKey ID 不存在 / no such AccessKey ID",
    "SignatureDoesNotMatch": "签名错误：请检查通道的 access_key_id 与 access_key_secret / signature refused",
    "InvalidTimeStamp.Expired": "请求时间与阿里云相差超过 15 分钟：请校准服务器时间（NTP）"
    " / clock skew: this server's clock is more than 15 minutes off",
}


def encode(text: str) -> str:
    """RFC 3986, as Aliyun signs: unreserved characters as they are, the rest %XX of UTF-8."""
    return quote(text, safe="-_.~")


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(params.items()))


def authorization(access_key_id: str, secret: str, query: str, headers: dict[str, str], body: bytes) -> str:
    """The Authorization header of a POST to / with `query` (canonical), `headers` (the ones to sign:
    host, content-type, x-acs-*) and `body`."""
    names = sorted(h.lower() for h in headers)
    values = {h.lower(): v.strip() for h, v in headers.items()}
    canonical_headers = "".join(f"{name}:{values[name]}\n" for name in names)
    signed = ";".join(names)
    canonical = f"POST\n/\n{query}\n{canonical_headers}\n{signed}\n{hashlib.sha256(body).hexdigest()}"
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={access_key_id},SignedHeaders={signed},Signature={signature}"


def failure(code: str) -> RetryableDelivery | PermanentDelivery:
    """Aliyun's code as the outcome for a request's numbers."""
    if code in RETRYABLE:
        return RetryableDelivery(f"{PROVIDER} {code}", retry_after=RETRYABLE[code])
    reason = " (clock skew?)" if code in CLOCK_SKEW else " (signature)" if code in SIGNATURE else ""
    return PermanentDelivery(f"{PROVIDER} {code}{reason}")


def out_id(key: str) -> str:
    """The notification's key as OutId: itself when short and plain, else a digest of it."""
    if re.fullmatch(r"[A-Za-z0-9:._/-]{1,64}", key):
        return key
    return "k" + hashlib.sha256(key.encode()).hexdigest()[: MAX_OUT_ID - 1]


def query_params(channel: AliyunSmsChannel, batch: Batch, key: str) -> dict[str, str]:
    params = {
        "PhoneNumbers": ",".join(batch.mobiles),
        "SignName": channel.sign_name,
        "TemplateCode": batch.template,
        "OutId": out_id(key),
    }
    if batch.params:
        params["TemplateParam"] = json_bytes(dict(batch.params)).decode()
    return params


def answer_code(response: httpx.Response) -> str:
    """Aliyun's Code for the whole request (an error of its gateway comes with HTTP 4xx and a Code
    too); raises when the answer has none."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    code = answer.get("Code") if isinstance(answer, dict) else None
    if not isinstance(code, str) or not code:
        raise_for_status(response)
        raise RetryableDelivery(f"HTTP {response.status_code} without an Aliyun code")
    return code


def _wall_clock() -> datetime:
    return datetime.now(UTC)


async def send(
    client: httpx.AsyncClient,
    channel: AliyunSmsChannel,
    payload: dict[str, Any],
    key: str,
    *,
    now: Callable[[], datetime] = _wall_clock,
) -> None:
    """One attempt for the numbers not yet settled. Raises RetryableDelivery (PartialDelivery when some
    numbers were settled) or PermanentDelivery; see sms_templates.Tally.conclude."""
    batches, tally = plan(channel, list(channel.template_params.items()), payload, PROVIDER, MAX_NUMBERS)
    base = channel.endpoint.rstrip("/")
    host = httpx.URL(base).netloc.decode()
    secret = channel.access_key_secret.get_secret_value()

    async def request(batch: Batch) -> dict[str, Outcome]:
        query = canonical_query(query_params(channel, batch, key))
        body = b""
        signed = {
            "host": host,
            "content-type": CONTENT_TYPE,
            "x-acs-action": ACTION,
            "x-acs-version": VERSION,
            "x-acs-date": now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": uuid.uuid4().hex,
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
        headers = {k: v for k, v in signed.items() if k != "host"}  # httpx sends Host from the URL
        headers["Authorization"] = authorization(channel.access_key_id, secret, query, signed, body)
        response = await post_json(client, f"{base}/?{query}", body, headers, channel.timeout)
        code = answer_code(response)
        outcome = None if code == OK else failure(code)
        return dict.fromkeys(batch.mobiles, outcome)

    await tally.run(batches, request, channel.timeout)
    tally.conclude()
