"""Tencent Cloud (腾讯云) SMS: SendSms, version 2021-01-11, on sms.tencentcloudapi.com, signed with
TC3-HMAC-SHA256 (the algorithm of tencentcloud-sdk-python's common/sign.py):

    canonical request  POST\\n/\\n\\ncontent-type:application/json; charset=utf-8\\nhost:HOST\\n\\n
                       content-type;host\\nhex(sha256(body))
    string to sign     TC3-HMAC-SHA256\\nTIMESTAMP\\nDATE/sms/tc3_request\\nhex(sha256(canonical request))
    key                HMAC(HMAC(HMAC("TC3" + SecretKey, DATE), "sms"), "tc3_request")

with the X-TC-Action, X-TC-Version, X-TC-Timestamp and X-TC-Region headers. Tencent answers each
number on its own (Response.SendStatusSet[].Code, "Ok" when taken); a Response.Error fails the whole
request. The numbers that got it are never sent to again (sms_templates.py). Tencent is not
idempotent: after a timeout the numbers are tried again, with SessionContext carrying the
notification's key so that the county can match the console's records.

No message raised here names the SecretId, the SecretKey, a phone number or Tencent's Message text."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import TencentSmsChannel
from escalation.notify.recipients import mobile
from escalation.notify.sms_templates import Batch, Outcome, plan
from escalation.notify.webhook import json_bytes, post_json, raise_for_status

PROVIDER = "tencent_sms"
SERVICE, ACTION, VERSION = "sms", "SendSms", "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
MAX_NUMBERS = 200  # PhoneNumberSet per request
OK = "Ok"
MAX_SESSION_CONTEXT = 500  # bytes; Tencent takes less than 512
RETRYABLE: dict[str, timedelta | None] = {
    "InternalError.Timeout": None,
    "InternalError.SendAndRecvFail": None,
    "InternalError": None,
    "LimitExceeded.PhoneNumberThirtySecondLimit": timedelta(seconds=30),
    "LimitExceeded.DeliveryFrequencyLimit": timedelta(minutes=1),
}
RETRYABLE_PREFIX = "RequestLimitExceeded"  # RequestLimitExceeded, …GlobalRegionUinLimitExceeded, …
CLOCK_SKEW = {"InternalError.RequestTimeException", "AuthFailure.SignatureExpire"}
SIGNATURE = {"AuthFailure.SignatureFailure"}

# For probe.explain: Tencent's codes in words for an office (the others are shown as they are).
ERRCODES_ZH = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": "同一手机号 30 秒内发送过多，稍后再试"
    " / too many to one number in 30 s",
    "LimitExceeded.DeliveryFrequencyLimit": "命中控制台的频率限制策略 / the console's frequency limit",
    "LimitExceeded.PhoneNumberOneHourLimit": "同一手机号 1 小时内发送条数超过上限，请在控制台调整频率限制"
    " / too many to one number in an hour",
    "LimitExceeded.PhoneNumberDailyLimit": "同一手机号当日发送条数超过上限，请在控制台调整频率限制"
    " / too many to one number today",
    "LimitExceeded.AppDailyLimit": "应用当日发送条数超过上限 / the application's daily limit",
    "RequestLimitExceeded": "请求过于频繁 / too many requests",
    "InternalError.Timeout": "腾讯云处理超时，稍后再试 / Tencent Cloud timed out",
    "InternalError.SendAndRecvFail": "腾讯云收发超时，稍后再试 / Tencent Cloud timed out",
    "InternalError.RequestTimeException": "本服务器时钟与腾讯云相差超过 10 分钟，请校准服务器时间（NTP）"
    " / clock skew: this server's clock is more than 10 minutes off",
    "AuthFailure.SignatureExpire": "签名已过期：本服务器时钟与腾讯云相差超过 5 分钟，请校准服务器时间（NTP）"
    " / clock skew: this server's clock is more than 5 minutes off",
    "AuthFailure.SignatureFailure": "签名错误：请检查通道的 secret_id 与 secret_key / signature refused",
    "AuthFailure.SecretIdNotFound": "SecretId 不存在或已停用 / no such SecretId",
    "AuthFailure.InvalidSecretId": "SecretId 无效 / the SecretId is not valid",
    "AuthFailure.UnauthorizedOperation": "密钥无短信发送权限（CAM）/ the key may not send SMS",
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": (
        "模板变量中不得含有链接 / a link in a variable"
    ),
    "InvalidParameterValue.TemplateParameterLengthLimit": "单个模板变量超过 12 个字符（非企业认证账号），"
    "请把 param_max_chars 设为 12 / a variable over 12 characters",
    "FailedOperation.TemplateIncorrectOrUnapproved": "模板未审核通过或与审核通过的模板不符"
    " / template not approved",
    "FailedOperation.SignatureIncorrectOrUnapproved": "签名未审核通过或格式错误 / sign name not approved",
    "FailedOperation.PhoneNumberInBlacklist": "手机号在免打扰名单中 / the number is on the blocklist",
    "FailedOperation.PhoneNumberOnBlacklist": "手机号在免打扰名单中 / the number is on the blocklist",
    "FailedOperation.InsufficientBalanceInSmsPackage": "套餐包余量不足 / the SMS package is used up",
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号格式错误 / the number is not valid",
    "InvalidParameterValue.SdkAppIdNotExist": "SmsSdkAppId 不存在 / no such SmsSdkAppId",
    "UnauthorizedOperation.RequestIpNotInWhitelist": "本服务器 IP 不在短信的 IP 白名单中 / IP not allowed",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "SmsSdkAppId 校验失败 / SmsSdkAppId refused",
    "UnauthorizedOperation.SerivceSuspendDueToArrears": "欠费停止服务 / suspended for arrears",
}


def sign(secret_key: str, date: str, string_to_sign: str, service: str = SERVICE) -> str:
    """TC3's signature: the key chain from "TC3" + SecretKey over DATE, the service, "tc3_request"."""
    key = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(host: str, body: bytes, content_type: str = CONTENT_TYPE) -> str:
    headers = f"content-type:{content_type}\nhost:{host}\n"
    return f"POST\n/\n\n{headers}\ncontent-type;host\n{hashlib.sha256(body).hexdigest()}"


def authorization(
    secret_id: str, secret_key: str, host: str, body: bytes, timestamp: int, service: str = SERVICE
) -> str:
    """The Authorization header of a POST of `body` to https://HOST/ at `timestamp` (Unix seconds)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    hashed = hashlib.sha256(canonical_request(host, body).encode()).hexdigest()
    signature = sign(secret_key, date, f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashed}", service)
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host,"
        f" Signature={signature}"
    )


def failure(code: str) -> RetryableDelivery | PermanentDelivery:
    """Tencent's code as the outcome for a number (or a whole request)."""
    if code in RETRYABLE or code.startswith(RETRYABLE_PREFIX):
        return RetryableDelivery(f"{PROVIDER} {code}", retry_after=RETRYABLE.get(code))
    reason = " (clock skew?)" if code in CLOCK_SKEW else " (signature)" if code in SIGNATURE else ""
    return PermanentDelivery(f"{PROVIDER} {code}{reason}")


def session_context(key: str) -> str:
    return key.encode()[:MAX_SESSION_CONTEXT].decode("utf-8", "ignore")


def request_body(channel: TencentSmsChannel, batch: Batch, key: str) -> bytes:
    return json_bytes(
        {
            "PhoneNumberSet": [f"+86{number}" for number in batch.mobiles],
            "SmsSdkAppId": channel.sms_sdk_app_id,
            "SignName": channel.sign_name,
            "TemplateId": batch.template,
            "TemplateParamSet": [value for _, value in batch.params],
            "SessionContext": session_context(key),
        }
    )


def outcomes(response: httpx.Response) -> dict[str, Outcome]:
    """Each number's outcome from Tencent's answer; raises for the whole request (Response.Error, an
    HTTP failure, an answer that is not Tencent's)."""
    try:
        answer = response.json().get("Response")
    except (ValueError, AttributeError):
        answer = None
    if not isinstance(answer, dict):
        raise_for_status(response)
        raise RetryableDelivery(f"HTTP {response.status_code} without a Tencent Cloud answer")
    if isinstance(error := answer.get("Error"), dict):
        raise failure(str(error.get("Code") or "Error"))
    found: dict[str, Outcome] = {}
    for status in answer.get("SendStatusSet") or ():
        number = mobile(status.get("PhoneNumber")) if isinstance(status, dict) else None
        if number is not None:
            code = str(status.get("Code") or "")
            found[number] = None if code == OK else failure(code)
    return found


def _wall_clock() -> datetime:
    return datetime.now(UTC)


async def send(
    client: httpx.AsyncClient,
    channel: TencentSmsChannel,
    payload: dict[str, Any],
    key: str,
    *,
    now: Callable[[], datetime] = _wall_clock,
) -> None:
    """One attempt for the numbers not yet settled. Raises RetryableDelivery (PartialDelivery when some
    numbers were settled) or PermanentDelivery; see sms_templates.Tally.conclude."""
    names = [(str(n), f) for n, f in enumerate(channel.template_params, start=1)]
    batches, tally = plan(channel, names, payload, PROVIDER, MAX_NUMBERS)
    url = httpx.URL(channel.endpoint.rstrip("/") + "/")
    host = url.netloc.decode()
    secret = channel.secret_key.get_secret_value()

    async def request(batch: Batch) -> dict[str, Outcome]:
        body = request_body(channel, batch, key)
        timestamp = int(now().timestamp())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": channel.region,
            "Authorization": authorization(channel.secret_id, secret, host, body, timestamp),
        }
        return outcomes(await post_json(client, str(url), body, headers, channel.timeout))

    await tally.run(batches, request, channel.timeout)
    tally.conclude()
