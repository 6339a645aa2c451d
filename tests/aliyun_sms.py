"""Aliyun SMS's SendSms on 127.0.0.1, checking a request as Aliyun's gateway and SMS service do: the
ACS3-HMAC-SHA256 signature recomputed by the published V3 algorithm from the query and headers as
they came (decoded, then encoded again by RFC 3986, as the gateway does), the body's hash, x-acs-date
within 15 minutes of its own clock, a nonce used once, the action and version; then the approved
signature name and templates, the variables as a JSON object, no URL in a variable, 35 characters a
variable, one message a number a minute. It answers with Aliyun's codes (the gateway's with HTTP 400)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

from tests.support import answer_json, read_request, serving

AUTHORIZATION = re.compile(
    r"ACS3-HMAC-SHA256 Credential=(?P<id>[^,]+),SignedHeaders=(?P<signed>[a-z0-9;-]+),"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
URL = re.compile(r"(?i)https?://|www\.|[a-z0-9-]+\.(?:com|cn|net|org|gov)\b")
WINDOW = timedelta(minutes=15)


def rfc3986(text: str) -> str:
    return quote(text, safe="-_.~")


@dataclass
class Delivered:
    numbers: list[str]
    template: str
    params: dict[str, str]
    out_id: str


@dataclass(kw_only=True)
class AliyunSms:
    access_key_id: str
    secret: str
    now: datetime  # Aliyun's clock; tests move it
    sign_name: str = "县委办"
    templates: dict[str, set[str]] = field(default_factory=dict)  # approved code → its variables
    param_max: int = 35
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # answers before any check
    delivered: list[Delivered] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    last_sent: dict[str, datetime] = field(default_factory=dict)
    url: str = ""

    def answer(self, code: str, message: str, status: int = 200) -> tuple[int, dict[str, Any]]:
        return status, {"RequestId": str(uuid.uuid4()), "Code": code, "Message": message}

    def gateway(self, query: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]] | None:
        auth = AUTHORIZATION.fullmatch(headers.get("authorization", ""))
        if auth is None:
            return self.answer("IncompleteSignature", "The request signature does not conform.", 400)
        if auth["id"] != self.access_key_id:
            return self.answer("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        try:
            when = datetime.fromisoformat(headers.get("x-acs-date", "").replace("Z", "+00:00"))
        except ValueError:
            return self.answer("InvalidTimeStamp.Format", "Specified time stamp is not well formatted.", 400)
        if abs(when - self.now) > WINDOW:
            return self.answer(
                "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400
            )
        signed = auth["signed"].split(";")
        required = {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce"}
        if (
            not required <= set(signed)
            or headers.get("x-acs-content-sha256") != hashlib.sha256(raw).hexdigest()
        ):
            return self.answer("IncompleteSignature", "The request signature does not conform.", 400)
        params = sorted(parse_qsl(query, keep_blank_values=True))
        canonical_query = "&".join(f"{rfc3986(k)}={rfc3986(v)}" for k, v in params)
        canonical_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in sorted(signed))
        canonical = (
            f"POST\n/\n{canonical_query}\n{canonical_headers}\n{';'.join(sorted(signed))}\n"
            f"{hashlib.sha256(raw).hexdigest()}"
        )
        to_sign = f"ACS3-HMAC-SHA256\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        expected = hmac.new(self.secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, auth["signature"]):
            return self.answer(
                "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.", 400
            )
        nonce = headers["x-acs-signature-nonce"]
        if nonce in self.nonces:
            return self.answer("SignatureNonceUsed", "Specified signature nonce was used already.", 400)
        self.nonces.add(nonce)
        if headers.get("x-acs-action") != "SendSms" or headers.get("x-acs-version") != "2017-05-25":
            return self.answer("InvalidApi.NotFound", "Specified api is not found.", 404)
        return None

    def sms(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        numbers = [n for n in params.get("PhoneNumbers", "").split(",") if n]
        if not numbers or len(numbers) > 1000:
            return self.answer("isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
        if any(not re.fullmatch(r"1\d{10}", n) for n in numbers):
            return self.answer("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params.get("SignName") != self.sign_name:
            return self.answer("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        variables = self.templates.get(params.get("TemplateCode", ""))
        if variables is None:
            return self.answer("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return self.answer("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return self.answer("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not variables <= set(values):
            return self.answer("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
        if any(URL.search(v) for v in values.values()):
            return self.answer("isv.PARAM_NOT_SUPPORT_URL", "不支持URL")
        if any(len(v) > self.param_max for v in values.values()):
            return self.answer("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        if any((t := self.last_sent.get(n)) and self.now - t < timedelta(minutes=1) for n in numbers):
            return self.answer("isv.BUSINESS_LIMIT_CONTROL", "触发号码天级流控Permits:10")
        for number in numbers:
            self.last_sent[number] = self.now
        self.delivered.append(Delivered(numbers, params["TemplateCode"], values, params.get("OutId", "")))
        return 200, {
            "RequestId": str(uuid.uuid4()),
            "Code": "OK",
            "Message": "OK",
            "BizId": "9006197469364984",
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw, headers = await read_request(scope, receive)
        query = scope["query_string"].decode()
        params = dict(parse_qsl(query, keep_blank_values=True))
        self.received.append(params)
        if self.script:
            status, answer = self.script.pop(0)
        else:
            status, answer = self.gateway(query, headers, raw) or self.sms(params)
        await answer_json(send, status, answer)


def aliyun(**fields: Any) -> AbstractAsyncContextManager[AliyunSms]:
    return serving(AliyunSms(**fields))
