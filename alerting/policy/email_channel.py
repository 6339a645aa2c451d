"""The policy model of an email channel (escalation/notify/email.py): an SMTP relay, its TLS, the
sender and the fixed recipients."""

from __future__ import annotations

import ipaddress
import re
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from alerting.policy.channel_base import Strict
from alerting.policy.durations import Duration
from alerting.policy.rates import RateLimits

# An ASCII addr-spec (local@domain): a relay without SMTPUTF8 cannot take more, and no county
# mailbox needs more.
MAILBOX = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}
# `from`: an address alone, or a display name (quoted or not) and the address in <>.
_FROM = re.compile(r'^\s*(?:"?(?P<name>[^"<>\\]*?)"?\s*<(?P<inner>[^<>\s]+)>|(?P<bare>[^<>\s"]+))\s*$')


def split_mailbox(sender: str) -> tuple[str, str] | None:
    """(display name, address) of a `from` value; None when it is not one mailbox."""
    match = _FROM.fullmatch(sender)
    if match is None or re.search(r"[\x00-\x1f\x7f]", sender):
        return None
    address = match.group("inner") or match.group("bare")
    if not re.fullmatch(MAILBOX, address):
        return None
    return (match.group("name") or "").strip(), address


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: a relay on this machine, reached without the network."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _address(address: str) -> str:
    if not re.fullmatch(MAILBOX, address):
        raise ValueError("must be a mail address such as zhiban@example.gov.cn")
    return address


class EmailChannel(Strict):
    """Mail through an SMTP relay (escalation/notify/email.py) to the fixed `to` mailboxes, e.g. the
    duty office's. `security` is "starttls" (587), "tls" (implicit, 465) or "none" (plain, only to
    a relay on this machine); the relay's certificate is always verified, against `ca_file` when
    set (an intranet relay's private CA) or else the system's trusted CAs."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["email"]
    host: str = Field(max_length=253, pattern=r"^[A-Za-z0-9.:-]+$")
    security: Literal["starttls", "tls", "none"] = "starttls"
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = Field(default=None, min_length=1)
    # Written in a policy as ${ENV_VAR}; a SecretStr, so the policy's repr and dumps show ********.
    password: SecretStr | None = Field(default=None, validate_default=True)
    # "县委办应急值班 <duty@example.gov.cn>": the display name may be Chinese (sent RFC 2047 encoded).
    sender: str = Field(alias="from")
    to: tuple[Annotated[str, AfterValidator(_address)], ...] = Field(min_length=1, max_length=50)
    ca_file: Path | None = Field(default=None, validate_default=True)
    timeout: Duration = timedelta(seconds=10)
    max_attempts: int = Field(default=6, ge=1, le=50)
    rate_limits: RateLimits = ()

    @field_validator("security")
    @classmethod
    def _plain_only_on_this_machine(cls, security: str, info: ValidationInfo) -> str:
        host = info.data.get("host")
        if security == "none" and host is not None and not is_loopback(host):
            raise ValueError(
                'security = "none" sends the password and the mail unencrypted: it is allowed only for'
                ' a relay on this machine (127.0.0.1, localhost); use "starttls" or "tls"'
            )
        return security

    @field_validator("password")
    @classmethod
    def _with_username(cls, password: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if (password is None) != (info.data.get("username") is None):
            raise ValueError("username and password go together: set both or neither")
        if password is not None and not password.get_secret_value():
            raise ValueError("must not be empty")
        return password

    @field_validator("sender")
    @classmethod
    def _mailbox(cls, sender: str) -> str:
        if split_mailbox(sender) is None:
            raise ValueError('must be a mailbox, e.g. "县委办应急值班 <duty@example.gov.cn>"')
        return sender

    @field_validator("ca_file")
    @classmethod
    def _readable_ca_bundle(cls, ca_file: Path | None, info: ValidationInfo) -> Path | None:
        if ca_file is None:
            return None
        if info.data.get("security") == "none":
            raise ValueError('a CA bundle needs security = "starttls" or "tls"')
        if not ca_file.is_absolute():
            raise ValueError("must be an absolute path")
        try:
            ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot be read as a PEM CA bundle ({type(exc).__name__})") from None
        return ca_file

    @property
    def smtp_port(self) -> int:
        return self.port or SMTP_PORTS[self.security]

    def mailbox(self) -> tuple[str, str]:
        """(display name, address) of `from`."""
        found = split_mailbox(self.sender)
        assert found is not None  # checked when the policy was loaded
        return found
