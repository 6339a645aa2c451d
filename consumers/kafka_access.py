"""The service's first contact with Kafka at start-up: one connection to a bootstrap server, with the
clients' own options, authenticated and asked for metadata. A failure stops start-up with a message
naming the setting to fix, instead of aiokafka's "Unable to bootstrap" (which keeps the cause only in
a log line) or a client retrying a wrong password for ever.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence

from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed, UnsupportedSaslMechanismError
from aiokafka.protocol.metadata import MetadataRequest

from alerting.errors import KafkaAccessError
from alerting.settings import Settings
from consumers.kafka_client import TokenUnreadable, connection_options

CONNECT_TIMEOUT_S = 15.0  # per bootstrap server: TCP, TLS, SASL and one metadata answer
HOSTNAME_MISMATCH = 62  # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH


class NoBrokers(Exception):
    """A metadata answer naming no broker. A live broker always names itself; this is what a refused
    OAUTHBEARER token looks like, as aiokafka 0.14 takes the broker's refusal (sent as a challenge)
    for the end of authentication and reads the next answer as garbage."""


async def check_access(settings: Settings) -> None:
    """Return once one bootstrap server accepts this service; raise KafkaAccessError otherwise."""
    options = connection_options(settings)
    failures: list[tuple[str, BaseException]] = []
    for host, port, _family in collect_hosts(settings.kafka_bootstrap_servers):
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                conn = await create_conn(host, port, **options)
                try:
                    # A SASL listener answers ApiVersions to anyone: only a real request shows that
                    # the connection is usable.
                    metadata = await conn.send(MetadataRequest([]))
                finally:
                    conn.close()
            if not metadata.brokers:
                raise NoBrokers(f"{host}:{port}")
            return
        except Exception as exc:  # every kind is explained below; none may become a stack trace
            failures.append((f"{host}:{port}", exc))
    raise KafkaAccessError(explain(failures, settings))


def explain(failures: Sequence[tuple[str, BaseException]], settings: Settings) -> str:
    """The most telling failure (a refusal beats an unreachable server), as 中文 / English, naming the
    setting. Pure, and scrubbed of the password whatever the broker said."""
    where, exc = min(failures, key=lambda failure: _rank(failure[1]))
    text = _explain_one(where, exc, settings)
    password = settings.kafka_sasl_password
    if password is not None and password.get_secret_value():
        text = text.replace(password.get_secret_value(), "***")
    return text


def _rank(exc: BaseException) -> int:
    order = (SaslAuthenticationFailed, NoBrokers, ssl.SSLCertVerificationError, UnsupportedSaslMechanismError)
    for rank, kind in enumerate(order):
        if isinstance(exc, kind):
            return rank
    return len(order) if isinstance(exc, ssl.SSLError | KafkaConnectionError | TokenUnreadable) else 9


def _explain_one(where: str, exc: BaseException, settings: Settings) -> str:
    protocol = f"ALERTING_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}"
    mechanism = settings.kafka_sasl_mechanism
    if isinstance(exc, SaslAuthenticationFailed):
        if mechanism == "OAUTHBEARER":
            return (
                f"Kafka（{where}）拒绝了 OAUTHBEARER 令牌：请检查 ALERTING_KAFKA_OAUTH_TOKEN_FILE / Kafka at "
                f"{where} refused the OAUTHBEARER token: check ALERTING_KAFKA_OAUTH_TOKEN_FILE ({exc})"
            )
        return (
            f"Kafka（{where}）拒绝了用户 {settings.kafka_sasl_username} 的 {mechanism} 认证：请检查 "
            "ALERTING_KAFKA_SASL_USERNAME 和 ALERTING_KAFKA_SASL_PASSWORD / Kafka at "
            f"{where} refused {mechanism} authentication of user {settings.kafka_sasl_username}: check "
            f"ALERTING_KAFKA_SASL_USERNAME and ALERTING_KAFKA_SASL_PASSWORD ({exc})"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == HOSTNAME_MISMATCH:
            return (
                f"Kafka（{where}）的证书与地址不符：ALERTING_KAFKA_BOOTSTRAP_SERVERS 须使用证书中的名称 / "
                f"the certificate of Kafka at {where} does not name that host: use the name it was issued "
                f"for in ALERTING_KAFKA_BOOTSTRAP_SERVERS ({exc.verify_message})"
            )
        trusted = settings.kafka_ssl_cafile or "未设置，使用系统 CA / unset: the system's CAs"
        return (
            f"Kafka（{where}）的证书不受信任：请检查 ALERTING_KAFKA_SSL_CAFILE（{trusted}），它须是签发 "
            f"Kafka 证书的 CA / the certificate of Kafka at {where} is not trusted "
            f"({exc.verify_message}): ALERTING_KAFKA_SSL_CAFILE must be the CA that signed the brokers' "
            "certificates"
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (
            f"Kafka（{where}）不支持 ALERTING_KAFKA_SASL_MECHANISM={mechanism} / Kafka at {where} does not "
            f"offer ALERTING_KAFKA_SASL_MECHANISM={mechanism} ({exc})"
        )
    if isinstance(exc, NoBrokers) and mechanism == "OAUTHBEARER":
        return (
            f"Kafka（{where}）未接受 OAUTHBEARER 令牌（已过期或无效？）：请检查 "
            f"ALERTING_KAFKA_OAUTH_TOKEN_FILE / Kafka at {where} did not accept the OAUTHBEARER token "
            "(expired or invalid?): check ALERTING_KAFKA_OAUTH_TOKEN_FILE"
        )
    if isinstance(exc, NoBrokers):
        return (
            f"Kafka（{where}）的元数据中没有任何 broker / Kafka at {where} answered with no broker in its "
            "metadata: check ALERTING_KAFKA_BOOTSTRAP_SERVERS and the cluster's state"
        )
    if isinstance(exc, TokenUnreadable):
        return str(exc)
    if isinstance(exc, ssl.SSLError | ConnectionResetError) and settings.kafka_security_protocol.endswith(
        "SSL"
    ):
        # A listener without TLS drops a TLS greeting: it reads it as an oversized request.
        reason = getattr(exc, "reason", None) or type(exc).__name__
        if "CERTIFICATE_REQUIRED" in str(reason):
            return (
                f"Kafka（{where}）要求客户端证书：请设置 ALERTING_KAFKA_SSL_CERTFILE 和 "
                f"ALERTING_KAFKA_SSL_KEYFILE / Kafka at {where} requires a client certificate: set "
                "ALERTING_KAFKA_SSL_CERTFILE and ALERTING_KAFKA_SSL_KEYFILE"
            )
        return (
            f"与 Kafka（{where}）的 TLS 握手失败：该端口可能不使用 TLS，请检查 {protocol} / "
            f"the TLS handshake with Kafka at {where} failed ({reason}): "
            f"does that listener speak TLS? Check {protocol}"
        )
    if isinstance(exc, KafkaConnectionError) and isinstance(exc.__cause__, asyncio.IncompleteReadError):
        # Connected, then dropped before any answer: a TLS listener hearing plain Kafka, or a SASL
        # listener hearing requests before authentication.
        return (
            f"Kafka（{where}）在建立连接时断开：{protocol} 可能与该监听端口的协议不符 / Kafka at "
            f"{where} closed the connection while it was being set up: {protocol} is probably not "
            "that listener's protocol (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)"
        )
    return (
        f"无法连接 Kafka（{settings.kafka_bootstrap_servers}）：请检查 ALERTING_KAFKA_BOOTSTRAP_SERVERS 及 "
        f"Kafka 是否运行 / cannot reach Kafka at ALERTING_KAFKA_BOOTSTRAP_SERVERS="
        f"{settings.kafka_bootstrap_servers} ({type(exc).__name__}: {exc}); check the address and that "
        "the brokers are up"
    )
