"""Tencent Cloud SMS's SendSms on 127.0.0.1, checking a request as Tencent does: the TC3-HMAC-SHA256
signature recomputed by the published algorithm from the headers and the body as they came, the
timestamp within 5 minutes of its own clock, the action and version, the application, the approved
signature name and templates, no URL in a variable, 12 characters a variable (a non-enterprise
account), one message a number in 30 seconds; it answers with Tencent's own codes (Response.Error for
the whole request, SendStatusSet[].Code for each number)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import answer_json, read_request, serving

AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)/tc3_request,"
    r" SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)
URL = re.compile(r"(?i)https?://|www\.|[a-z0-9-]+\.(?:com|cn|net|org|gov)\b")
WINDOW = timedelta(minutes=5)


def tc3(secret_key: str, date: str, string_to_sign: str) -> str:
    key = ("TC3" + secret_key).encode()
    for part in (date, "sms", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class Delivered:
    number: str  # +86…
    template: str
    params: list[str]
    session: str


@dataclass(kw_only=True)
class TencentSms:
    secret_id: str
    secret_key: str
    app_id: str
    now: datetime  # Tencent's clock; tests move it
    sign_name: str = "县委办"
    templates: dict[str, int] = field(default_factory=dict)  # approved template id → its variables
    param_max: int = 12
    script: list[dict[str, Any]] = field(default_factory=list)  # whole answers, before any check
    number_codes: dict[str, str] = field(default_factory=dict)  # +86… → a code to answer it once
    delivered: list[Delivered] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    last_sent: dict[str, datetime] = field(default_factory=dict)
    url: str = ""

    def refuse(self, code: str, message: str) -> dict[str, Any]:
        return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}

    def check(self, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
        auth = AUTHORIZATION.fullmatch(headers.get("authorization", ""))
        if auth is None:
            return self.refuse("AuthFailure.InvalidAuthorization", "Authorization is not valid.")
        if auth["id"] != self.secret_id:
            return self.refuse("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        stamp = headers.get("x-tc-timestamp", "")
        if not stamp.isdigit() or abs(int(stamp) - self.now.timestamp()) > WINDOW.total_seconds():
            return self.refuse("AuthFailure.SignatureExpire", "Signature expired, timestamp out of range.")
        signed = auth["signed"].split(";")
        if "content-type" not in signed or "host" not in signed or auth["service"] != "sms":
            return self.refuse(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        canonical_headers = "".join(f"{h}:{headers.get(h, '').strip().lower()}\n" for h in signed)
        canonical = f"POST\n/\n\n{canonical_headers}\n{auth['signed']}\n{hashlib.sha256(raw).hexdigest()}"
        date = datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%d")
        to_sign = (
            f"TC3-HMAC-SHA256\n{stamp}\n{auth['date']}/sms/tc3_request\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        if date != auth["date"] or not hmac.compare_digest(
            tc3(self.secret_key, auth["date"], to_sign), auth["signature"]
        ):
            return self.refuse(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        if headers.get("x-tc-action") != "SendSms":
            return self.refuse("InvalidAction", "The action is not found.")
        if headers.get("x-tc-version") != "2021-01-11":
            return self.refuse("NoSuchVersion", "The version is not found.")
        if headers.get("x-tc-region") not in ("ap-guangzhou", "ap-beijing", "ap-nanjing"):
            return self.refuse("InvalidParameterValue", "The region is not supported.")
        body = json.loads(raw)
        self.received.append(body)
        if body.get("SmsSdkAppId") != self.app_id:
            return self.refuse("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist.")
        numbers, params = body.get("PhoneNumberSet") or [], body.get("TemplateParamSet") or []
        if not numbers:
            return self.refuse("MissingParameter.EmptyPhoneNumberSet", "the number set is empty")
        if len(numbers) > 200:
            return self.refuse("LimitExceeded.PhoneNumberCountLimit", "more than 200 numbers")
        if any(URL.search(p) for p in params):
            return self.refuse(
                "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
                "template parameters cannot contain URL",
            )
        if any(len(p) > self.param_max for p in params):
            return self.refuse(
                "InvalidParameterValue.TemplateParameterLengthLimit",
                "single template parameter exceeds 12 characters",
            )
        return {
            "Response": {
                "SendStatusSet": [self.one(number, body) for number in numbers],
                "RequestId": str(uuid.uuid4()),
            }
        }

    def one(self, number: str, body: dict[str, Any]) -> dict[str, Any]:
        params = body.get("TemplateParamSet") or []
        if code := self.number_codes.pop(number, None):
            pass
        elif not re.fullmatch(r"\+861\d{10}", number):
            code = "InvalidParameterValue.IncorrectPhoneNumber"
        elif body.get("SignName") != self.sign_name:
            code = "FailedOperation.SignatureIncorrectOrUnapproved"
        elif self.templates.get(body.get("TemplateId", "")) != len(params):
            code = "FailedOperation.TemplateIncorrectOrUnapproved"
        elif (last := self.last_sent.get(number)) and self.now - last < timedelta(seconds=30):
            code = "LimitExceeded.PhoneNumberThirtySecondLimit"
        else:
            code = "Ok"
            self.last_sent[number] = self.now
            self.delivered.append(
                Delivered(number, body["TemplateId"], params, body.get("SessionContext", ""))
            )
        message = "send success" if code == "Ok" else f"refused: {code}"
        return {
            "SerialNo": "",
            "PhoneNumber": number,
            "Fee": int(code == "Ok"),
            "Code": code,
            "Message": message,
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw, headers = await read_request(scope, receive)
        answer = self.script.pop(0) if self.script else self.check(raw, headers)
        await answer_json(send, 200, answer)


def tencent(**fields: Any) -> AbstractAsyncContextManager[TencentSms]:
    return serving(TencentSms(**fields))
