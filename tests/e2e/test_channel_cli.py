"""`alerting channel list|test`: the channels with their hosts and uses, and a test message through
the webhook against a real receiver on 127.0.0.1, delivered (exit 0) and refused (exit 1), each in
the operations log; an unknown channel and an SMS without a number refused before anything is sent;
an email channel through an SMTP relay with STARTTLS."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from alerting.storage.engine import create_engine
from alerting.storage.schema import operations
from tests.e2e.test_cli import EXAMPLE, alerting, base_env
from tests.smtp_server import PASSWORD, USER, make_certs, relay
from tests.support import receiver

SMS = '\n[channels.sms]\ntype = "sms"\nurl = "http://127.0.0.1:9/sms"\n'


async def channel_tests(database_url: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(actor, channel, details) of every test message in the operations log, oldest first."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = (
                select(operations.c.actor, operations.c.target, operations.c.details)
                .where(operations.c.action == "channel_tested")
                .order_by(operations.c.id)
            )
            return [(r.actor, r.target, r.details) for r in await conn.execute(query)]
    finally:
        await engine.dispose()


async def test_list_and_test_a_channel(tmp_path: Path) -> None:
    async with receiver([200, 500]) as hook:
        env = {**base_env(tmp_path, EXAMPLE + SMS), "ALERTING_COUNTY_WEBHOOK_URL": hook.url}
        listed = await asyncio.to_thread(alerting, "channel", "list", "--format", "json", env=env)
        sent = await asyncio.to_thread(alerting, "channel", "test", "county_webhook", "--by", "张工", env=env)
        refused = await asyncio.to_thread(
            alerting, "channel", "test", "county_webhook", "--by", "张工", env=env
        )
        unknown = await asyncio.to_thread(alerting, "channel", "test", "nope", env=env)
        no_phone = await asyncio.to_thread(alerting, "channel", "test", "sms", env=env)
    channels = {c["name"]: c for c in json.loads(listed.stdout)}
    assert channels["county_webhook"]["host"] == hook.url.removesuffix("/county-hook")
    assert channels["county_webhook"]["used_by"][0] == "default（第 1、2、3 步）"
    assert (channels["sms"]["type"], channels["sms"]["used_by"]) == ("sms", [])
    assert channels["county_webhook"]["limits"] == ""  # a webhook is unlimited unless the policy says

    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.splitlines() == [
        f"通道 county_webhook（Webhook，{channels['county_webhook']['host']}）",
        "测试消息成功 / delivered：发送成功，接收方已确认收到 / delivered: the receiver accepted it",
        sent.stdout.splitlines()[2],
    ]
    assert sent.stdout.splitlines()[2].startswith("接收方的答复 / answer: ok；用时 ")
    assert refused.returncode == 1
    assert "测试消息失败 / not delivered：HTTP 500：接收方服务器出错" in refused.stdout
    assert "接收方的答复 / answer: HTTP 500" in refused.stdout
    assert [r.body["sent_by"] for r in hook.received] == ["张工", "张工"]
    assert all(r.body["test"] is True and "【测试消息】" in r.body["text"] for r in hook.received)

    assert (
        unknown.returncode == 2 and "no channel nope; the channels are: county_webhook、sms" in unknown.stderr
    )
    assert no_phone.returncode == 2 and "an SMS channel needs --phone" in no_phone.stderr
    logged = await channel_tests(env["ALERTING_DATABASE_URL"])
    assert [(a, t, d["delivered"], d["detail"]) for a, t, d in logged] == [
        ("张工", "county_webhook", True, "ok"),
        ("张工", "county_webhook", False, "HTTP 500"),
    ]


async def test_an_email_channel_is_listed_and_tested(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "tls")
    async with relay(certs) as smtp:
        mail = (
            f'\n[channels.duty_mail]\ntype = "email"\nhost = "127.0.0.1"\nport = {smtp.port}\n'
            f'username = "{USER}"\npassword = "${{ALERTING_SMTP_PASSWORD}}"\nca_file = "{certs.ca_file}"\n'
            'from = "县委办应急值班 <duty@example.gov.cn>"\nto = ["zhiban@example.gov.cn"]\n'
        )
        env = {**base_env(tmp_path, EXAMPLE + mail), "ALERTING_SMTP_PASSWORD": PASSWORD}
        listed = await asyncio.to_thread(alerting, "channel", "list", "--format", "json", env=env)
        sent = await asyncio.to_thread(alerting, "channel", "test", "duty_mail", "--by", "张工", env=env)
        smtp.password = "changed"
        refused = await asyncio.to_thread(alerting, "channel", "test", "duty_mail", "--by", "张工", env=env)
    channels = {c["name"]: c for c in json.loads(listed.stdout)}
    assert channels["duty_mail"]["host"] == f"smtp://127.0.0.1:{smtp.port}"
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.splitlines()[0] == f"通道 duty_mail（邮件，smtp://127.0.0.1:{smtp.port}）"
    [got] = smtp.received
    assert got.tls and got.message["Subject"].startswith("【测试消息】")
    assert refused.returncode == 1
    assert (
        "用户名或密码错误" in refused.stdout
        and "smtp 535 at AUTH: username/password refused" in refused.stdout
    )
    for output in (listed, sent, refused):
        assert PASSWORD not in output.stdout + output.stderr
