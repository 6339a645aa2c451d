"""Policy models of the notification channels, one per integration, discriminated on `type`."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from alerting.policy.durations import Duration

SECRET_PREFIX = "whsec_"
# Standard Webhooks: a symmetric signing secret is random, 24 to 64 bytes (192 to 512 bits).
SECRET_BYTES = range(24, 65)


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret `whsec_<base64>`; ValueError (never naming the
    secret) when it is not one."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    if encoded == secret:
        raise ValueError(f"must start with {SECRET_PREFIX} (a Standard Webhooks signing secret)")
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError(f"must be {SECRET_PREFIX} followed by standard base64") from None
    if len(key) not in SECRET_BYTES:
        raise ValueError(
            f"must encode a key of {SECRET_BYTES.start} to {SECRET_BYTES.stop - 1} bytes, not {len(key)}"
        )
    return key


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookChannel(_Strict):
    """A JSON POST of the whole notification with an Idempotency-Key header; signed with the
    Standard Webhooks headers when `secret` is set (escalation/notify/webhook.py)."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    headers: dict[str, str] = {}
    # A SecretStr: the policy's repr and dumps show it as ********.
    secret: SecretStr | None = None

    @field_validator("secret")
    @classmethod
    def _standard_webhooks_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None:
            decode_secret(secret.get_secret_value())
        return secret

    def signing_key(self) -> bytes | None:
        """The HMAC key of `secret`, None when the channel does not sign."""
        return None if self.secret is None else decode_secret(self.secret.get_secret_value())


class ChatbotChannel(_Strict):
    """The older generic group-chat robot (WeCom-shaped text, no size limit kept); the URL carries
    the robot's key. New policies use `wecom`."""

    type: Literal["chatbot"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    mention_recipients: bool = True


class WecomChannel(_Strict):
    """A WeCom (企业微信) group robot: the URL carries its key (the credential, so written in a
    policy as ${ENV_VAR}); `format` text (which can @ by mobile) or markdown (which cannot)."""

    type: Literal["wecom"]
    url: str = Field(pattern=r"^https?://[^?#\s]+\?(?:[^#\s]*&)?key=[^&#\s]+")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    mention_recipients: bool = True
    format: Literal["text", "markdown"] = "text"


class DingtalkChannel(_Strict):
    """A DingTalk (钉钉) custom group robot: the URL carries its access_token; `secret` is its 加签
    secret ("SEC…", written in a policy as ${ENV_VAR}); `keywords` are its 自定义关键词, of which
    every message must contain one."""

    type: Literal["dingtalk"]
    url: str = Field(pattern=r"^https?://[^?#\s]+\?(?:[^#\s]*&)?access_token=[^&#\s]+")
    secret: str | None = Field(default=None, pattern=r"^SEC\S+$", repr=False)
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    mention_recipients: bool = True
    keywords: tuple[Annotated[str, Field(min_length=1)], ...] = ()


class SmsChannel(_Strict):
    """A generic HTTP SMS gateway."""

    type: Literal["sms"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    sign: str = "【县委办】"
    template: str | None = None


# What a cloud SMS template's variables may be filled with (escalation/notify/sms_templates.py):
# the township, the kind of deadline in Chinese, the local due time, the incident's title and level,
# and the person's acknowledgement code (escalation/notify/ack_codes.py).
TemplateField = Literal["township", "deadline", "due", "title", "level", "code"]
ACK_CODE_LENGTH = 10  # characters of an acknowledgement code: 50 bits in Crockford's base32


class _CloudSms(_Strict):
    """What the Aliyun and Tencent Cloud SMS channels share: an approved signature and template (the
    acknowledgement link is fixed text of the template, the person's code one of its variables)."""

    endpoint: str  # the provider's host by default; tests point it at 127.0.0.1
    sign_name: str = Field(min_length=2, max_length=20)
    template: str = Field(min_length=1, max_length=64)
    # For a recipient without an acknowledgement link: an approved template without the code variable.
    template_without_code: str | None = Field(default=None, min_length=1, max_length=64)
    timezone: str = "Asia/Shanghai"  # how `due` is written
    param_max_chars: int = Field(default=35, ge=1, le=500)  # a longer value is cut (never the code)
    timeout: Duration = timedelta(seconds=10)
    max_attempts: int = Field(default=6, ge=1, le=50)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    def fields(self) -> tuple[TemplateField, ...]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """Where requests go (shown on the channels page: it carries no credential)."""
        return self.endpoint

    @model_validator(mode="after")
    def _room_for_the_code(self) -> _CloudSms:
        if "code" in self.fields() and self.param_max_chars < ACK_CODE_LENGTH:
            raise ValueError(f"param_max_chars must leave room for the {ACK_CODE_LENGTH}-character code")
        return self


class AliyunSmsChannel(_CloudSms):
    """Aliyun (阿里云) SMS, SendSms 2017-05-25 signed with ACS3-HMAC-SHA256; `template_params` maps
    each variable of the template (e.g. ${code}) to a field; the AccessKey secret is written in a
    policy as ${ENV_VAR}."""

    type: Literal["aliyun_sms"]
    endpoint: str = Field(default="https://dysmsapi.aliyuncs.com", pattern=r"^https?://[^/?#\s]+/?$")
    access_key_id: str = Field(min_length=1)
    access_key_secret: SecretStr
    template_params: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], TemplateField] = {}

    def fields(self) -> tuple[TemplateField, ...]:
        return tuple(self.template_params.values())


class TencentSmsChannel(_CloudSms):
    """Tencent Cloud (腾讯云) SMS, SendSms 2021-01-11 signed with TC3-HMAC-SHA256; `template_params`
    lists the fields of the template's variables {1}, {2}, … in order; the SecretKey is written in a
    policy as ${ENV_VAR}. A non-enterprise account takes 12 characters a variable."""

    type: Literal["tencent_sms"]
    endpoint: str = Field(default="https://sms.tencentcloudapi.com", pattern=r"^https?://[^/?#\s]+/?$")
    region: Literal["ap-guangzhou", "ap-beijing", "ap-nanjing"] = "ap-guangzhou"
    secret_id: str = Field(min_length=1)
    secret_key: SecretStr
    sms_sdk_app_id: str = Field(pattern=r"^[0-9]{6,20}$")
    template: str = Field(pattern=r"^[0-9]{1,20}$")
    template_without_code: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    template_params: tuple[TemplateField, ...] = ()
    param_max_chars: int = Field(default=12, ge=1, le=500)

    def fields(self) -> tuple[TemplateField, ...]:
        return self.template_params


AnyChannel = (
    WebhookChannel
    | ChatbotChannel
    | WecomChannel
    | DingtalkChannel
    | SmsChannel
    | AliyunSmsChannel
    | TencentSmsChannel
)
Channel = Annotated[AnyChannel, Field(discriminator="type")]
