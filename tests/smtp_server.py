"""An SMTP relay on 127.0.0.1 for the email integration's tests: aiosmtpd in the test's own event
loop, with a self-signed CA made here, STARTTLS required (or implicit TLS, or plain), AUTH checked,
every message recorded with whether it came over TLS, and replies scripted on demand (451, 550,
535 …) for a given SMTP step."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import free_port

USER = "duty-relay"
PASSWORD = "pw-Zh1ban-s3cret"
OK = "250 2.0.0 OK"


@dataclass(frozen=True)
class Certs:
    ca_file: Path  # what a channel trusts with ca_file
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certs(folder: Path, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Certs:
    """A CA of its own (in no system's trust store) and a relay certificate it signed for `names`."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("县委办测试 CA"))
        .issuer_name(_name("县委办测试 CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    certs = Certs(folder / "ca.pem", folder / "relay.pem", folder / "relay.key")
    certs.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certs.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    certs.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certs


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    tls: bool  # the message came over an encrypted connection
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Relay:
    """What the relay saw. `script` maps an SMTP step (MAIL, RCPT, DATA) to the replies it gives
    next instead of accepting, e.g. {"RCPT": ["451 4.7.1 greylisted"]}; `password` is what AUTH
    accepts (AUTH answers 535 otherwise)."""

    port: int = 0
    script: dict[str, list[str]] = field(default_factory=dict)
    password: str = PASSWORD
    received: list[Received] = field(default_factory=list)  # messages accepted
    data_seen: list[Received] = field(default_factory=list)  # every DATA, accepted or not
    logins: list[bytes] = field(default_factory=list)

    def _scripted(self, step: str) -> str | None:
        queue = self.script.get(step)
        return queue.pop(0) if queue else None

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if reply := self._scripted("MAIL"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if reply := self._scripted("RCPT"):
            return reply
        envelope.rcpt_tos.append(address)
        return OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert server.transport is not None and isinstance(envelope.original_content, bytes)
        tls = server.transport.get_extra_info("ssl_object") is not None
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        got = Received(
            str(envelope.mail_from), list(envelope.rcpt_tos), envelope.original_content, tls, login
        )
        self.data_seen.append(got)
        if reply := self._scripted("DATA"):
            return reply
        self.received.append(got)
        return OK

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.logins.append(data.login)
        if reply := self._scripted("AUTH"):
            return AuthResult(success=False, handled=False, message=reply)
        ok = (data.login, data.password) == (USER.encode(), self.password.encode())
        return AuthResult(success=ok, handled=False, auth_data=data)


@asynccontextmanager
async def relay(
    certs: Certs | None, security: Literal["starttls", "tls", "none"] = "starttls", **fields: Any
) -> AsyncIterator[Relay]:
    """A relay on 127.0.0.1: "starttls" offers and requires STARTTLS before MAIL and AUTH, "tls"
    speaks TLS from the first byte, "none" is plain; AUTH is required in every case."""
    loop = asyncio.get_running_loop()
    seen = Relay(port=free_port(), **fields)
    tls = certs.server_context() if certs is not None and security != "none" else None
    sessions: list[SMTP] = []

    def factory() -> SMTP:
        with warnings.catch_warnings():  # AUTH without STARTTLS: over implicit TLS, or plain on purpose
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            server = SMTP(
                seen,
                hostname="relay.test",
                tls_context=tls if security == "starttls" else None,
                require_starttls=security == "starttls",
                auth_required=True,
                # aiosmtpd counts only STARTTLS as TLS; over implicit TLS the whole session is encrypted.
                auth_require_tls=security == "starttls",
                authenticator=seen.authenticate,
                loop=loop,
            )
        sessions.append(server)
        return server

    server = await loop.create_server(factory, "127.0.0.1", seen.port, ssl=tls if security == "tls" else None)
    try:
        yield seen
    finally:
        server.close()
        for session in sessions:
            if session.transport is not None:
                session.transport.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # let the sessions' tasks see their connections close


@asynccontextmanager
async def silent() -> AsyncIterator[int]:
    """A port that takes the connection and never says a word: a relay that hangs."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
