"""Policy models of the notification channels, one per integration, discriminated on `type`
(email in email_channel.py, the cloud SMS providers in sms_channels.py)."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from alerting.policy.channel_base import FEISHU_RATE, ROBOT_RATE, Strict
from alerting.policy.durations import Duration
from alerting.policy.email_channel import EmailChannel
from alerting.policy.rates import RateLimits
from alerting.policy.sms_channels import AliyunSmsChannel, TencentSmsChannel

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


class WebhookChannel(Strict):
    """A JSON POST of the whole notification with an Idempotency-Key header; signed with the
    Standard Webhooks headers when `secret` is set (escalation/notify/webhook.py)."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    headers: dict[str, str] = Field(default_factory=dict)
    rate_limits: RateLimits = ()
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


class ChatbotChannel(Strict):
    """The older generic group-chat robot (WeCom-shaped text, no size limit kept); the URL carries
    the robot's key. New policies use `wecom`."""

    type: Literal["chatbot"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    mention_recipients: bool = True
    rate_limits: RateLimits = ()


class WecomChannel(Strict):
    """A WeCom (企业微信) group robot: the URL carries its key (the credential, so written in a
    policy as ${ENV_VAR}); `format` text (which can @ by mobile) or markdown (which cannot)."""

    type: Literal["wecom"]
    url: str = Field(pattern=r"^https?://[^?#\s]+\?(?:[^#\s]*&)?key=[^&#\s]+")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    mention_recipients: bool = True
    format: Literal["text", "markdown"] = "text"
    rate_limits: RateLimits = ROBOT_RATE
    # Notifications due together (or kept waiting by the rate) go as one message listing each.
    digest: bool = True


class DingtalkChannel(Strict):
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
    rate_limits: RateLimits = ROBOT_RATE
    digest: bool = True


class FeishuChannel(Strict):
    """A Feishu (飞书) custom group bot: the URL's last segment is its hook id (the credential, so
    written in a policy as ${ENV_VAR}); `secret` is its 签名校验 secret (likewise); `keywords` are its
    自定义关键词, of which every message must contain one."""

    type: Literal["feishu"]
    url: str = Field(pattern=r"^https?://[^/?#\s]+/open-apis/bot/v2/hook/[A-Za-z0-9_-]+$")
    secret: str | None = Field(default=None, pattern=r"^\S+$", repr=False)
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    mention_recipients: bool = True
    keywords: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    rate_limits: RateLimits = FEISHU_RATE
    digest: bool = True


class SmsChannel(Strict):
    """A generic HTTP SMS gateway."""

    type: Literal["sms"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    sign: str = "【县委办】"
    template: str | None = None
    rate_limits: RateLimits = ()


AnyChannel = (
    WebhookChannel
    | ChatbotChannel
    | WecomChannel
    | DingtalkChannel
    | FeishuChannel
    | SmsChannel
    | AliyunSmsChannel
    | TencentSmsChannel
    | EmailChannel
)
Channel = Annotated[AnyChannel, Field(discriminator="type")]

__all__ = [
    "AliyunSmsChannel",
    "AnyChannel",
    "Channel",
    "ChatbotChannel",
    "DingtalkChannel",
    "EmailChannel",
    "FeishuChannel",
    "SmsChannel",
    "TencentSmsChannel",
    "WebhookChannel",
    "WecomChannel",
    "decode_secret",
]
