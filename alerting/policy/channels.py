"""Policy models of the notification channels, one per integration, discriminated on `type`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerting.policy.durations import Duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookChannel(_Strict):
    """A JSON POST of the whole notification with an Idempotency-Key header."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    headers: dict[str, str] = {}


class ChatbotChannel(_Strict):
    """A group-chat robot (enterprise IM style); the URL carries the robot's key."""

    type: Literal["chatbot"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = timedelta(seconds=5)
    max_attempts: int = Field(default=6, ge=1, le=50)
    mention_recipients: bool = True


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


AnyChannel = WebhookChannel | ChatbotChannel | DingtalkChannel | SmsChannel
Channel = Annotated[AnyChannel, Field(discriminator="type")]
