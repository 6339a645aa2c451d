"""Email through an SMTP relay (aiosmtplib): one message to the channel's fixed `to` mailboxes, e.g.
the duty office's, with a text/plain and a text/html part. A shared mailbox is read by several
people, so each person's acknowledgement link is labelled with their name ("值班员李四 签收: URL"):
a link acknowledges in its person's name, never in the mailbox's.

The Message-ID is derived from the notification's idempotency key, so every retry of one
notification carries the same one and a mail system can drop a repeat.

The relay's answer decides: a 4xx reply is tried again, a 5xx is not; a certificate the channel
does not trust, a refused login and a relay without STARTTLS are permanent. No message raised here
names the password, an address or the relay's own words (which may echo addresses): only reply
codes, the SMTP step and what to check."""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
import ssl
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any, NoReturn

import aiosmtplib

from alerting.clock import Clock, SystemClock
from alerting.domain import DeadlineKind
from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import EmailChannel
from escalation.messages import DEADLINE_ZH
from escalation.notify.recipients import personal_links, who

SUBJECT_MAX = 120  # characters; the incident text itself is in the body
SHARED_MAILBOX_NOTE = (
    "请只点击本人姓名后的签收链接：链接以本人名义签收。/ Use only the link after your own name."
)
FOOTER = "此邮件由县委办紧急信息报送系统自动发送，请勿直接回复。/ Sent automatically; please do not reply."
# The SMTP step an aiosmtplib exception answers, for the words of a failure.
STEPS: tuple[tuple[type[aiosmtplib.SMTPResponseException], str], ...] = (
    (aiosmtplib.SMTPConnectResponseError, "greeting"),
    (aiosmtplib.SMTPHeloError, "EHLO"),
    (aiosmtplib.SMTPAuthenticationError, "AUTH"),
    (aiosmtplib.SMTPSenderRefused, "MAIL"),
    (aiosmtplib.SMTPRecipientRefused, "RCPT"),
    (aiosmtplib.SMTPDataError, "DATA"),
)
DEADLINE_KINDS = {kind.value for kind in DeadlineKind}
# OpenSSL's X509 verify codes, in words that say what to fix.
UNTRUSTED = {
    10: "expired",
    18: "self-signed",
    19: "self-signed CA",
    20: "unknown issuer",
    21: "unknown issuer",
    62: "hostname mismatch",
    64: "hostname mismatch",  # an IP address the certificate does not name
}

# For probe.explain: reply codes, SMTP steps and certificate failures in words for an office.
SMTP_CODES_ZH = {
    421: "邮件服务器暂不可用（正在关闭连接或过载）/ the relay is not available now",
    450: "邮箱暂不可用 / the mailbox is not available now",
    451: "邮件服务器处理出错或暂时拒收（如灰名单）/ the relay failed or deferred the message",
    452: "邮件服务器空间不足或收件人过多 / the relay is out of space or takes fewer recipients",
    454: "暂时无法登录或无法启用加密 / login or TLS not available now",
    530: "邮件服务器要求先登录：请配置 username/password / the relay requires a login",
    534: "邮件服务器要求更安全的登录方式 / the relay wants a stronger login mechanism",
    535: "用户名或密码错误：请检查 username/password（部分邮箱须用授权码）/ username/password refused",
    538: "邮件服务器要求加密后才能登录 / the relay requires encryption before login",
    550: "收件邮箱不存在或拒收，或发件人未获准经此服务器发信 / mailbox unavailable or relaying denied",
    551: "收件人不在此服务器 / the recipient is not local to the relay",
    552: "超出邮箱容量或邮件过大 / over the mailbox's quota or the size limit",
    553: "邮箱地址不被接受（请检查 from 与 to）/ a mail address is not accepted",
    554: "邮件被拒绝（如被判为垃圾邮件或违反服务器策略）/ the relay refused the message",
}
STEPS_ZH = {
    "greeting": "连接时",
    "EHLO": "问候（EHLO）时",
    "AUTH": "登录（AUTH）时",
    "MAIL": "发件人（MAIL FROM）",
    "RCPT": "收件人（RCPT TO）",
    "DATA": "邮件内容（DATA）",
}
UNTRUSTED_ZH = {
    "expired": "证书已过期",
    "self-signed": "证书为自签名证书",
    "self-signed CA": "证书链中的根证书不受信任",
    "unknown issuer": "签发证书的 CA 不受信任",
    "hostname mismatch": "证书上的主机名与通道的 host 不符",
    "not valid": "证书无效",
}


def one_line(text: str) -> str:
    """`text` with every run of whitespace and control characters made one space: a header value."""
    return re.sub(r"[\s\x00-\x1f\x7f]+", " ", text).strip()


def subject(payload: dict[str, Any]) -> str:
    """【紧急信息提醒·值班员签收超时】城关镇「某企业火情」（II级）; the text's first sentence for a
    message that is not about a deadline (e.g. a test message)."""
    kind = (payload.get("deadline") or {}).get("kind")
    if kind in DEADLINE_KINDS:
        incident = payload.get("incident") or {}
        township = payload.get("township") or incident.get("township") or ""
        about = f"「{incident['title']}」" if incident.get("title") else ""
        level = f"（{incident['level']}级）" if incident.get("level") else ""
        line = f"【紧急信息提醒·{DEADLINE_ZH[DeadlineKind(kind)]}】{township}{about}{level}"
    else:
        line = str(payload.get("text") or "县委办紧急信息提醒").split("。", 1)[0]
    line = one_line(line)
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1] + "…"


def message_id(key: str, domain: str) -> str:
    """<alerting.HASH@domain>: the same for every attempt of one notification (a key may hold
    characters a Message-ID cannot)."""
    return f"<alerting.{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def plain_body(payload: dict[str, Any]) -> str:
    lines = [str(payload.get("text") or "")]
    if links := personal_links(payload):
        lines += ["", SHARED_MAILBOX_NOTE, *(f"{who(r)} 签收: {link}" for r, link in links)]
    if payload.get("text_en"):
        lines += ["", str(payload["text_en"])]
    return "\n".join([*lines, "", "—", FOOTER]) + "\n"


def html_body(payload: dict[str, Any], title: str) -> str:
    """The same as plain_body in HTML; every text from a township or a person is escaped."""
    esc = html.escape
    parts = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title></head><body>",
        f"<p>{esc(str(payload.get('text') or ''))}</p>",
    ]
    if links := personal_links(payload):
        parts.append(f"<p>{esc(SHARED_MAILBOX_NOTE)}</p><ul>")
        for recipient, link in links:
            # Only a web link becomes a button: never a javascript: or data: URL.
            shown = f'<a href="{esc(link)}">签收</a>' if re.match(r"https?://", link) else esc(link)
            parts.append(f"<li>{esc(who(recipient))} {shown}</li>")
        parts.append("</ul>")
    if payload.get("text_en"):
        parts.append(f'<p lang="en">{esc(str(payload["text_en"]))}</p>')
    parts.append(f'<p style="color:#666;font-size:small">{esc(FOOTER)}</p></body></html>')
    return "\n".join(parts) + "\n"


def compose(channel: EmailChannel, payload: dict[str, Any], key: str, now: datetime) -> EmailMessage:
    """The message: headers encoded by the email library (RFC 2047 for Chinese), two parts."""
    name, address = channel.mailbox()
    title = subject(payload)
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(display_name=name, addr_spec=address)
    message["To"] = ", ".join(channel.to)
    message["Subject"] = title
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(key, address.rsplit("@", 1)[1])
    # RFC 3834: machine-made, so vacation responders and the like stay silent (Exchange's own header too).
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(plain_body(payload), charset="utf-8")
    message.add_alternative(html_body(payload, title), subtype="html", charset="utf-8")
    return message


def tls_context(channel: EmailChannel) -> ssl.SSLContext | None:
    """Verification always on: the CA bundle `ca_file` replaces the system's CAs when set."""
    if channel.security == "none":
        return None
    return ssl.create_default_context(cafile=None if channel.ca_file is None else str(channel.ca_file))


def failure(exc: BaseException) -> NoReturn:
    """Raise the delivery error `exc` comes to, naming nothing it carries but codes and kinds."""
    cause: BaseException | None = exc
    for _ in range(8):  # aiosmtplib wraps a failed TLS handshake in SMTPConnectError
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = UNTRUSTED.get(cause.verify_code, "not valid")
            fix = "the certificate does not name host" if reason == "hostname mismatch" else "check ca_file"
            raise PermanentDelivery(f"certificate not trusted ({reason}): {fix}") from None
        if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            break  # the connection closed during the handshake: a transport error, below
        if isinstance(cause, ssl.SSLError):
            raise PermanentDelivery(
                f"TLS handshake failed ({cause.reason or type(cause).__name__}): check security and port"
            ) from None
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused(len(exc.recipients), len(exc.recipients), [r.code for r in exc.recipients])
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        step = next((name for kind, name in STEPS if isinstance(exc, kind)), None)
        said = f"smtp {exc.code}" + (f" at {step}" if step else "")
        if step == "AUTH" and exc.code >= 500:
            raise PermanentDelivery(f"{said}: username/password refused") from None
        if 400 <= exc.code < 500:
            raise RetryableDelivery(said) from None
        raise PermanentDelivery(said) from None
    if isinstance(exc, TimeoutError):  # aiosmtplib's SMTPTimeoutError is one too
        raise RetryableDelivery("smtp timeout") from None
    if isinstance(exc, OSError):  # refused, reset, unreachable, no such host; SMTPConnectError
        kind = type(exc.__cause__ or exc).__name__
        raise RetryableDelivery(f"transport error: {kind}") from None
    # aiosmtplib's own words for what the relay does not offer (no relay text in them).
    said = str(exc).lower()
    if "starttls" in said:
        raise PermanentDelivery("smtp server does not offer STARTTLS") from None
    if "auth" in said:
        raise PermanentDelivery("smtp server does not offer AUTH") from None
    raise PermanentDelivery(f"smtp error: {type(exc).__name__}") from None


def refused(count: int, of: int, codes: list[int]) -> NoReturn:
    """Some or all recipients refused: retried only if every refusal was temporary (4xx)."""
    worst = max(codes)
    said = f"smtp {worst} at RCPT for {count} of {of} recipients"
    if all(400 <= code < 500 for code in codes):
        raise RetryableDelivery(said) from None
    raise PermanentDelivery(said) from None


async def send(channel: EmailChannel, payload: dict[str, Any], key: str, clock: Clock | None = None) -> None:
    """One attempt. RetryableDelivery for a 4xx reply, a refused or lost connection and a timeout;
    PermanentDelivery for a 5xx reply (535 naming username/password), an untrusted certificate
    (naming ca_file), a relay without STARTTLS or AUTH. A recipient refused while others took the
    message fails the attempt too: the mailbox in `to` that did not get it is what matters."""
    message = compose(channel, payload, key, (clock or SystemClock()).now())
    password = None if channel.password is None else channel.password.get_secret_value()
    context = await asyncio.to_thread(tls_context, channel)  # reads ca_file or the system's CAs
    try:
        errors, _answer = await aiosmtplib.send(
            message,
            hostname=channel.host,
            port=channel.smtp_port,
            username=channel.username,
            password=password,
            use_tls=channel.security == "tls",
            start_tls=channel.security == "starttls",
            tls_context=context,
            timeout=channel.timeout.total_seconds(),
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        failure(exc)
    if errors:
        refused(len(errors), len(channel.to), [response.code for response in errors.values()])
