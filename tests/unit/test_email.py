"""The email integration against an aiosmtpd relay on 127.0.0.1 (tests/smtp_server.py) with
STARTTLS required and a CA made by the test, implicit TLS, AUTH checked, replies on demand; its
policy model, and the test message's words for its failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerting.clock import FakeClock
from alerting.county.channels import receiver_of
from alerting.errors import PermanentDelivery, RetryableDelivery
from alerting.policy.channels import EmailChannel
from alerting.policy.loader import parse_policy
from escalation.notify import dispatch, email, probe
from tests.smtp_server import PASSWORD, USER, Certs, make_certs, relay, silent
from tests.support import free_port
from tests.unit.test_integrations import ACK_LI, ACK_WANG, KEY, payload
from tests.unit.test_policy import ENV, EXAMPLE, error

SENDER = "县委办应急值班 <duty@example.gov.cn>"
OFFICE = "zhiban@example.gov.cn"
OTHER = "xinxike@example.gov.cn"
AT = datetime(2024, 5, 1, 2, 0, 5, tzinfo=UTC)
SUBJECT = "【紧急信息提醒·值班员签收超时】城关镇「某企业火情」（II级）"
# What a relay's reply may echo, and what no raised message may carry.
SECRETS = (PASSWORD, USER, OFFICE, OTHER, "duty@example.gov.cn", "127.0.0.1")
LEAKY = f"<{OFFICE}> from <duty@example.gov.cn> {USER}:{PASSWORD}"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("smtp-tls"))


def channel(port: int, certs: Certs | None = None, **fields: Any) -> EmailChannel:
    values: dict[str, Any] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "username": USER,
        "password": PASSWORD,
        "from": SENDER,
        "to": [OFFICE],
        "ca_file": None if certs is None else certs.ca_file,
        "timeout": timedelta(seconds=5),
    }
    return EmailChannel.model_validate({**values, **fields})


def notification(**changes: Any) -> dict[str, Any]:
    incident = {"id": "inc-7", "township": "城关镇", "level": "II", "title": "某企业火情"}
    return payload(**{"incident": incident, **changes})


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text/plain and text/html parts' content, lines ending in \\n."""
    found = [message.get_body((kind,)) for kind in ("plain", "html")]
    text, page = (str(part.get_content()).replace("\r\n", "\n") for part in found if part is not None)
    return text, page


def clean(exc: BaseException) -> None:
    """Nothing secret in the message, and no chained exception carrying the relay's words."""
    for secret in SECRETS:
        assert secret not in str(exc)
    assert exc.__cause__ is None and exc.__suppress_context__


# --- the message ----------------------------------------------------------------------------------


async def test_delivered_over_starttls_with_both_parts_links_and_headers(certs: Certs) -> None:
    async with relay(certs, "starttls") as smtp:
        await email.send(channel(smtp.port, certs), notification(), KEY, FakeClock(AT))
    [got] = smtp.received
    assert got.tls and got.login == USER.encode()  # STARTTLS was used, then AUTH
    assert (got.mail_from, got.rcpt_tos) == ("duty@example.gov.cn", [OFFICE])
    head = got.raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head  # Chinese only as RFC 2047 encoded words
    message = got.message
    assert message["From"].addresses[0].display_name == "县委办应急值班"
    assert message["From"].addresses[0].addr_spec == "duty@example.gov.cn"
    assert (message["To"], message["Subject"]) == (OFFICE, SUBJECT)
    assert parsedate_to_datetime(message["Date"]) == AT
    assert message["Message-ID"] == email.message_id(KEY, "example.gov.cn")
    assert (message["Auto-Submitted"], message["X-Auto-Response-Suppress"]) == ("auto-generated", "All")
    assert message.get_content_type() == "multipart/alternative"
    text, page = parts(message)
    assert text.startswith(notification()["text"])
    assert f"值班员李四 签收: {ACK_LI}\n带班领导王五 签收: {ACK_WANG}\n" in text
    assert "请只点击本人姓名后的签收链接" in text and "请只点击本人姓名后的签收链接" in page
    assert f'<li>值班员李四 <a href="{ACK_LI}">签收</a></li>' in page
    assert f'<li>带班领导王五 <a href="{ACK_WANG}">签收</a></li>' in page


async def test_the_message_id_is_the_same_for_every_attempt(certs: Certs) -> None:
    async with relay(certs, script={"DATA": ["451 4.3.0 try again later"]}) as smtp:
        ch = channel(smtp.port, certs)
        with pytest.raises(RetryableDelivery, match=r"^smtp 451 at DATA$"):
            await email.send(ch, notification(), KEY, FakeClock(AT))
        await email.send(ch, notification(), KEY, FakeClock(AT + timedelta(minutes=1)))
        await email.send(ch, notification(), "inc-7:ack:1:2", FakeClock(AT))
    first, second, other = (seen.message["Message-ID"] for seen in smtp.data_seen)
    assert first == second != other
    assert len(smtp.received) == 2


async def test_township_text_is_escaped_in_html_and_kept_to_one_header_line(certs: Certs) -> None:
    title = "<script>alert(1)</script> & 火情\r\nBcc: evil@example.com"
    body = notification(
        text=f"【紧急信息提醒】城关镇「{title}」",
        incident={"township": "城关镇", "level": "I", "title": title},
        recipients=[{"role": "duty_officer", "name": "<b>李四</b>", "ack_url": "javascript:alert(1)"}],
    )
    async with relay(certs) as smtp:
        await email.send(channel(smtp.port, certs), body, KEY)
    message = smtp.received[0].message
    _text, page = parts(message)
    assert "<script>" not in page and "<b>" not in page and "href" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 火情" in page
    assert "值班员&lt;b&gt;李四&lt;/b&gt; javascript:alert(1)" in page
    assert message["Bcc"] is None and smtp.received[0].rcpt_tos == [OFFICE]
    one_line = title.replace("\r\n", " ")
    assert message["Subject"] == f"【紧急信息提醒·值班员签收超时】城关镇「{one_line}」（I级）"


async def test_a_message_without_links_or_deadline(certs: Certs) -> None:
    test = probe.probe_payload("duty_mail", "管理员甲（admin）", AT, [])
    async with relay(certs) as smtp:
        await email.send(channel(smtp.port, certs), test, "test/1")
    message = smtp.received[0].message
    assert message["Subject"].startswith("【测试消息】这是县委办紧急信息报送系统经通道「duty_mail」")
    assert "签收" not in parts(message)[0]


async def test_implicit_tls(certs: Certs) -> None:
    async with relay(certs, "tls") as smtp:
        await dispatch.send(
            httpx.AsyncClient(), channel(smtp.port, certs, security="tls"), notification(), KEY
        )
    assert smtp.received[0].tls and smtp.received[0].login == USER.encode()


async def test_plain_to_a_relay_on_this_machine() -> None:
    async with relay(None, "none") as smtp:
        await email.send(channel(smtp.port, security="none"), notification(), KEY)
    assert not smtp.received[0].tls


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_an_untrusted_certificate_is_permanent_and_named(certs: Certs, security: str) -> None:
    async with relay(certs, security) as smtp:  # type: ignore[arg-type]
        with pytest.raises(PermanentDelivery) as info:
            await email.send(channel(smtp.port, None, security=security), notification(), KEY)
    assert str(info.value) == "certificate not trusted (unknown issuer): check ca_file"
    clean(info.value)
    assert smtp.logins == [] and smtp.data_seen == []  # the password never left
    said = probe.explain(str(info.value), False)
    assert said.startswith("邮件服务器的证书不受信任（签发证书的 CA 不受信任）") and "ca_file" in said


async def test_a_certificate_for_another_host_is_named(tmp_path: Path) -> None:
    other = make_certs(tmp_path, ("relay.example.gov.cn",))
    async with relay(other) as smtp:
        with pytest.raises(PermanentDelivery) as info:
            await email.send(channel(smtp.port, other), notification(), KEY)
    assert (
        str(info.value) == "certificate not trusted (hostname mismatch): the certificate does not name host"
    )
    assert "host" in probe.explain(str(info.value), False)


@pytest.mark.parametrize(
    ("step", "reply", "retryable", "detail"),
    [
        ("MAIL", "451 4.3.0 temporary failure", True, "smtp 451 at MAIL"),
        ("MAIL", "421 4.3.2 shutting down", True, "smtp 421 at MAIL"),
        ("MAIL", "550 5.7.1 relaying denied", False, "smtp 550 at MAIL"),
        ("RCPT", "451 4.7.1 greylisted", True, "smtp 451 at RCPT for 1 of 1 recipients"),
        ("RCPT", "550 5.1.1 no such mailbox", False, "smtp 550 at RCPT for 1 of 1 recipients"),
        ("DATA", "452 4.3.1 insufficient storage", True, "smtp 452 at DATA"),
        ("DATA", "554 5.7.1 rejected as spam", False, "smtp 554 at DATA"),
        ("AUTH", "454 4.7.0 temporary authentication failure", True, "smtp 454 at AUTH"),
        ("AUTH", "535 5.7.8 bad credentials", False, "smtp 535 at AUTH: username/password refused"),
    ],
)
async def test_4xx_is_retried_and_5xx_is_not(
    certs: Certs, step: str, reply: str, retryable: bool, detail: str
) -> None:
    # Three times: after a refused AUTH aiosmtplib tries the relay's next mechanism (PLAIN, LOGIN).
    async with relay(certs, script={step: [f"{reply} {LEAKY}"] * 3}) as smtp:
        with pytest.raises(RetryableDelivery if retryable else PermanentDelivery) as info:
            await dispatch.send(httpx.AsyncClient(), channel(smtp.port, certs), notification(), KEY)
    assert str(info.value) == detail
    assert getattr(info.value, "retry_after", None) is None
    clean(info.value)
    assert smtp.received == []


async def test_a_wrong_password_names_username_password_never_the_password(certs: Certs) -> None:
    async with relay(certs, password="the-right-one") as smtp:
        result = await probe.probe(httpx.AsyncClient(), channel(smtp.port, certs), notification())
        with pytest.raises(PermanentDelivery) as info:
            await email.send(channel(smtp.port, certs), notification(), KEY)
    assert (result.delivered, result.retryable) == (False, False)
    assert result.detail == str(info.value) == "smtp 535 at AUTH: username/password refused"
    assert result.explained.startswith(
        "邮件服务器登录（AUTH）时返回 535：用户名或密码错误：请检查 username/password"
    )
    assert result.explained.endswith("不会重试，请先修正")
    clean(info.value)
    for secret in SECRETS:
        assert secret not in result.explained


async def test_without_a_login_the_relay_refuses_with_530(certs: Certs) -> None:
    async with relay(certs) as smtp:
        with pytest.raises(PermanentDelivery, match=r"^smtp 530 at MAIL$"):
            await email.send(channel(smtp.port, certs, username=None, password=None), notification(), KEY)
    assert "username/password" in probe.explain("smtp 530 at MAIL", False)


@pytest.mark.parametrize(("reply", "retryable"), [("550 5.1.1 unknown", False), ("450 4.2.1 busy", True)])
async def test_one_mailbox_refused_of_two_fails_the_attempt(
    certs: Certs, reply: str, retryable: bool
) -> None:
    async with relay(certs, script={"RCPT": [f"{reply} {LEAKY}"]}) as smtp:
        with pytest.raises(RetryableDelivery if retryable else PermanentDelivery) as info:
            await email.send(channel(smtp.port, certs, to=[OFFICE, OTHER]), notification(), KEY)
    assert str(info.value) == f"smtp {reply[:3]} at RCPT for 1 of 2 recipients"
    clean(info.value)
    assert smtp.received[0].rcpt_tos == [OTHER]  # the other mailbox did get it
    assert "2 个收件地址中 1 个被拒" in probe.explain(str(info.value), retryable)


async def test_a_refused_connection_and_a_silent_relay_are_retried() -> None:
    with pytest.raises(RetryableDelivery) as info:
        await email.send(channel(free_port()), notification(), KEY)
    assert str(info.value) == "transport error: ConnectionRefusedError"
    clean(info.value)
    async with silent() as port:
        with pytest.raises(RetryableDelivery, match=r"^smtp timeout$") as info:
            await email.send(channel(port, timeout=timedelta(seconds=0.3)), notification(), KEY)
        clean(info.value)
        with pytest.raises(RetryableDelivery):
            await dispatch.send(
                httpx.AsyncClient(), channel(port, timeout=timedelta(seconds=0.3)), notification(), KEY
            )
    assert probe.explain("smtp timeout", True).startswith("邮件服务器未在时限内回答")


async def test_a_relay_without_starttls_or_speaking_plain_to_tls(certs: Certs) -> None:
    async with relay(None, "none") as smtp:
        with pytest.raises(PermanentDelivery, match=r"^smtp server does not offer STARTTLS$") as info:
            await email.send(channel(smtp.port, certs), notification(), KEY)
    clean(info.value)
    assert smtp.logins == []  # the password is not sent unencrypted
    async with relay(certs, "starttls") as smtp:
        with pytest.raises(
            PermanentDelivery, match=r"^TLS handshake failed \(.+\): check security and port$"
        ):
            await email.send(channel(smtp.port, certs, security="tls"), notification(), KEY)
    assert "security" in probe.explain("smtp server does not offer STARTTLS", False)


def test_the_channels_page_shows_the_relay_not_the_login(certs: Certs) -> None:
    assert receiver_of(channel(587, certs)) == "smtp://127.0.0.1:587"
    implicit = channel(587, certs).model_copy(update={"port": None, "security": "tls", "host": "mail.gov.cn"})
    assert receiver_of(implicit) == "smtps://mail.gov.cn:465"
    assert probe.TYPE_ZH["email"] == "邮件"


# --- policy -------------------------------------------------------------------------------------

EMAIL = """
[channels.duty_mail]
type = "email"
host = "smtp.example.gov.cn"
security = "starttls"
username = "duty@example.gov.cn"
password = "${ALERTING_SMTP_PASSWORD}"
from = "县委办应急值班 <duty@example.gov.cn>"
to = ["zhiban@example.gov.cn"]
"""
EMAIL_ENV = {**ENV, "ALERTING_SMTP_PASSWORD": PASSWORD}


def test_an_email_channel_loads_from_the_policy(certs: Certs) -> None:
    ch = parse_policy(EXAMPLE + EMAIL, env=EMAIL_ENV).channels["duty_mail"]
    assert isinstance(ch, EmailChannel)
    assert ch.password is not None and ch.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(ch) and PASSWORD not in ch.model_dump_json()
    assert (ch.host, ch.smtp_port, ch.security, ch.to, ch.ca_file) == (
        "smtp.example.gov.cn",
        587,
        "starttls",
        (OFFICE,),
        None,
    )
    assert ch.mailbox() == ("县委办应急值班", "duty@example.gov.cn")
    assert (ch.timeout, ch.max_attempts) == (timedelta(seconds=10), 6)
    with_ca = parse_policy(EXAMPLE + EMAIL + f'ca_file = "{certs.ca_file}"\nport = 2525\n', env=EMAIL_ENV)
    loaded = with_ca.channels["duty_mail"]
    assert isinstance(loaded, EmailChannel) and (loaded.ca_file, loaded.smtp_port) == (certs.ca_file, 2525)
    local = EMAIL.replace("smtp.example.gov.cn", "127.0.0.1").replace('"starttls"', '"none"')
    assert parse_policy(EXAMPLE + local, env=EMAIL_ENV).channels["duty_mail"].smtp_port == 25  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('security = "starttls"', 'security = "none"', "channels.duty_mail.email.security"),
        ('security = "starttls"', 'security = "ssl"', "channels.duty_mail.email.security"),
        ('password = "${ALERTING_SMTP_PASSWORD}"\n', "", "channels.duty_mail.email.password"),
        (
            'from = "县委办应急值班 <duty@example.gov.cn>"',
            'from = "县委办应急值班"',
            "channels.duty_mail.email.from",
        ),
        (
            'from = "县委办应急值班 <duty@example.gov.cn>"',
            'from = "a@b.cn, c@d.cn"',
            "channels.duty_mail.email.from",
        ),
        ('to = ["zhiban@example.gov.cn"]', "to = []", "channels.duty_mail.email.to"),
        ('to = ["zhiban@example.gov.cn"]', 'to = ["值班室"]', "channels.duty_mail.email.to.0"),
        (
            'to = ["zhiban@example.gov.cn"]',
            'to = ["a@b.cn"]\nca_file = "ca.pem"',
            "channels.duty_mail.email.ca_file",
        ),
        (
            'to = ["zhiban@example.gov.cn"]',
            'to = ["a@b.cn"]\nca_file = "/nonexistent/ca.pem"',
            "channels.duty_mail.email.ca_file",
        ),
        (
            'to = ["zhiban@example.gov.cn"]',
            'to = ["a@b.cn"]\nverify = false',
            "channels.duty_mail.email.verify",
        ),
        ('host = "smtp.example.gov.cn"', 'host = "smtp.example.gov.cn/x"', "channels.duty_mail.email.host"),
    ],
)
def test_a_bad_email_channel_is_refused(old: str, new: str, key: str) -> None:
    assert old in EMAIL
    err = error(EXAMPLE + EMAIL.replace(old, new), env=EMAIL_ENV)
    assert err.key == key, str(err)
    assert PASSWORD not in str(err)


def test_plain_is_refused_for_any_host_but_this_machine() -> None:
    for host in ("10.0.0.25", "smtp.example.gov.cn", "127.example.com"):
        with pytest.raises(ValueError, match=r'security = "none" .* only for a relay on this machine'):
            channel(25, host=host, security="none")
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert channel(25, host=host, security="none").security == "none"


def test_the_example_policys_email_channel_loads_when_uncommented() -> None:
    start = EXAMPLE.index("# [channels.duty_mail]")
    block = EXAMPLE[start : EXAMPLE.index("# ca_file", start)]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    ch = parse_policy(EXAMPLE + "\n" + uncommented + "\n", env=EMAIL_ENV).channels["duty_mail"]
    assert isinstance(ch, EmailChannel) and ch.mailbox() == ("县委办应急值班", "duty@example.gov.cn")
