"""How every Kafka client of the service connects: bootstrap servers, security protocol, SASL and TLS,
from the ALERTING_KAFKA_* settings. Producers, the consumer, the admin client and the start-up check
all take their options from `client_options`, so that no client talks to a secured cluster in the clear.

aiokafka (0.14) supports PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (through a token provider)
and GSSAPI; TLS through an ssl.SSLContext. The TLS files are checked here, once, when the clients are
built at start-up: a missing or unparsable file stops the service with the setting's name, never the
file's contents.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.abc import AbstractTokenProvider
from aiokafka.helpers import create_ssl_context

from alerting.clock import Clock, SystemClock
from alerting.errors import SettingsError
from alerting.settings import Settings


class TokenUnreadable(OSError):
    """The OAUTHBEARER token file cannot be read or is empty. An OSError, so that aiokafka treats a
    failed reconnection like any other connection failure and tries again."""


class TokenFile(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka ships no type information
    """OAUTHBEARER tokens from a file, read again at every authentication (every new connection):
    whoever renews the token (a Kubernetes projected volume, an agent) rewrites the file in place.

    A JWT whose `exp` has passed is refused here: aiokafka 0.14 does not notice a broker's refusal
    of a token (see consumers/kafka_access.py), so sending it would leave a connection that only
    times out, where this says which file holds a stale token."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.clock: Clock = clock or SystemClock()

    async def token(self) -> str:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenUnreadable(
                f"ALERTING_KAFKA_OAUTH_TOKEN_FILE ({self.path}) 无法读取 / cannot be read: "
                f"{type(exc).__name__}"
            ) from None
        token = text.strip()
        if not token:
            raise TokenUnreadable(f"ALERTING_KAFKA_OAUTH_TOKEN_FILE ({self.path}) 为空 / is empty")
        expires = jwt_expiry(token)
        if expires is not None and expires <= self.clock.now():
            at = f"{expires:%Y-%m-%d %H:%M:%S} UTC"
            raise TokenUnreadable(
                f"ALERTING_KAFKA_OAUTH_TOKEN_FILE ({self.path}) 中的令牌已于 {at} 过期，续期未生效 / holds "
                f"a token that expired at {at}: whatever renews it has stopped"
            )
        return token


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT; None for a token of another kind (opaque ones are allowed too)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = claims["exp"] if isinstance(claims, dict) else None
        return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None
    except (ValueError, KeyError, OverflowError, OSError):
        return None


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = tls_context(settings)
    mechanism = settings.kafka_sasl_mechanism
    if mechanism == "OAUTHBEARER":
        assert settings.kafka_oauth_token_file is not None  # Settings refuses it otherwise
        _readable("ALERTING_KAFKA_OAUTH_TOKEN_FILE", settings.kafka_oauth_token_file)
        options["sasl_mechanism"] = mechanism
        options["sasl_oauth_token_provider"] = TokenFile(settings.kafka_oauth_token_file)
    elif mechanism is not None:
        assert settings.kafka_sasl_password is not None  # Settings refuses it otherwise
        options["sasl_mechanism"] = mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def connection_options(settings: Settings) -> dict[str, Any]:
    """The same, for one connection (aiokafka.conn.create_conn): without the bootstrap list."""
    options = client_options(settings)
    del options["bootstrap_servers"]
    return options


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A client context that verifies the broker's certificate and host name, against
    ALERTING_KAFKA_SSL_CAFILE or, unset, the system's CAs; with the client certificate if given."""
    cafile, certfile = settings.kafka_ssl_cafile, settings.kafka_ssl_certfile
    keyfile = settings.kafka_ssl_keyfile
    if cafile is not None:
        _readable("ALERTING_KAFKA_SSL_CAFILE", cafile)
    try:
        context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    except (ssl.SSLError, ValueError) as exc:
        raise SettingsError(
            f"ALERTING_KAFKA_SSL_CAFILE ({cafile}) 不是 PEM 格式的 CA 证书 / is not a PEM CA certificate "
            f"({_reason(exc)})"
        ) from None
    if certfile is not None:
        _readable("ALERTING_KAFKA_SSL_CERTFILE", certfile)
        if keyfile is not None:
            _readable("ALERTING_KAFKA_SSL_KEYFILE", keyfile)
        try:
            # No key password setting: an encrypted key must fail here, not prompt on a terminal.
            context.load_cert_chain(certfile, keyfile, password=lambda: b"")
        except (ssl.SSLError, ValueError) as exc:
            names = "ALERTING_KAFKA_SSL_CERTFILE" + (" / ALERTING_KAFKA_SSL_KEYFILE" if keyfile else "")
            raise SettingsError(
                f"{names}：客户端证书或私钥无法使用（须为 PEM，私钥不加密，且与证书匹配）/ the client "
                f"certificate or key cannot be used ({_reason(exc)}): PEM, an unencrypted key that "
                "matches the certificate"
            ) from None
    return context


def _readable(name: str, path: Path) -> None:
    if not path.is_file() or not os.access(path, os.R_OK):
        raise SettingsError(f"{name}：文件不存在或不可读 {path} / {name}: no readable file at {path}")


def _reason(exc: Exception) -> str:
    """OpenSSL's short reason (e.g. NO_CERTIFICATE_OR_CRL_FOUND): it never quotes the file."""
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else type(exc).__name__
