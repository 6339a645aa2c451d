"""The policy models of the cloud SMS channels (escalation/notify/aliyun_sms.py, tencent_sms.py):
an approved signature and template, whose variables are filled from a fixed set of fields."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from alerting.policy.channel_base import Strict
from alerting.policy.durations import Duration
from alerting.policy.rates import RateLimits

# What a cloud SMS template's variables may be filled with (escalation/notify/sms_templates.py):
# the township, the kind of deadline in Chinese, the local due time, the incident's title and level,
# and the person's acknowledgement code (escalation/notify/ack_codes.py).
TemplateField = Literal["township", "deadline", "due", "title", "level", "code"]
ACK_CODE_LENGTH = 10  # characters of an acknowledgement code: 50 bits in Crockford's base32


class _CloudSms(Strict):
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
    rate_limits: RateLimits = ()

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
    template_params: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], TemplateField] = Field(
        default_factory=dict
    )

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
