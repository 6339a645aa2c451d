"""通知通道: the admin's page of the policy's channels (where each sends, host only; which steps use
it; the last day's deliveries) with 发送测试消息: one message through the channel's own integration,
its outcome in plain words, recorded in the operations log (without the phone numbers)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse

from alerting.accounts import oplog
from alerting.accounts.sessions import Session
from alerting.county import channels
from alerting.county.officers import PHONE_LENGTH, PHONE_PATTERN
from alerting.errors import ConflictError
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.listing import who
from alerting.web.session import PageRefused, acting, allow, signed_in
from alerting.web.templating import render
from escalation.notify import probe

router = APIRouter(prefix="/admin/channels", include_in_schema=False)
MAX_PHONES = 5


async def _page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    *,
    tested: dict[str, Any] | None = None,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    now = ctx.clock.now()
    async with reading(ctx.engine) as conn:
        activity = await channels.activity(conn, now)
    shown = [
        {
            "name": name,
            "type": channel.type,
            "type_zh": probe.TYPE_ZH.get(channel.type, channel.type),
            "host": channels.receiver_of(channel),
            "timeout_s": channel.timeout.total_seconds(),
            "max_attempts": channel.max_attempts,
            "used_by": channels.used_by(ctx.policy, name),
            "limits": channels.limits_zh(channel),
            "digest": getattr(channel, "digest", None),
            "sms": channel.type in channels.SMS_TYPES,
            "takes_phones": channel.type not in channels.NO_PHONES,
            "activity": activity.get(name),
        }
        for name, channel in ctx.policy.channels.items()
    ]
    values = {"session": session, "channels": shown, "tested": tested, "error": error, "recent_hours": 24}
    return render(request, ctx, "admin_channels.html", values, status=status)


@router.get("", response_class=HTMLResponse)
async def list_channels(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    allow(session)
    return await _page(request, ctx, session)


def _phones(text: str, needed: bool) -> list[str]:
    phones = [p.strip() for p in re.split(r"[,，;；\s]+", text) if p.strip()]
    if len(phones) > MAX_PHONES:
        raise ConflictError(f"最多填写 {MAX_PHONES} 个号码 / at most {MAX_PHONES} numbers")
    for phone in phones:
        if not (PHONE_LENGTH[0] <= len(phone) <= PHONE_LENGTH[1] and re.fullmatch(PHONE_PATTERN, phone)):
            raise ConflictError("手机号码格式不正确 / a phone number is not valid")
    if needed and not phones:
        raise ConflictError("短信通道请填写接收测试短信的手机号码 / give a phone number for the test SMS")
    return phones


@router.post("/{name}/test", response_class=HTMLResponse)
async def test_channel(
    request: Request,
    name: str = Path(max_length=64),
    phones: str = Form("", max_length=300),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session)
    await signed_in(session)
    channel = ctx.policy.channels.get(name)
    if channel is None:
        raise PageRefused(f"没有通道 {name} / no channel {name}", status=404)
    try:
        numbers = _phones(phones, needed=channel.type in channels.SMS_TYPES)
    except ConflictError as exc:
        return await _page(request, ctx, session, error=f"通道「{name}」：{exc}", status=400)
    now = ctx.clock.now()
    payload = probe.probe_payload(name, who(session), now.astimezone(ctx.policy.tz), numbers)
    result = await probe.probe(ctx.http, channel, payload, probe.Budget(ctx.engine, name, ctx.clock))
    async with ctx.engine.begin() as conn:
        details = result.logged(phones=len(numbers))  # no phone numbers in any log
        await oplog.record(
            conn,
            at=now,
            actor=session.account.username,
            action="channel_tested",
            target=name,
            details=details,
        )
    tested = {"name": name, "result": result}
    return await _page(request, ctx, session, tested=tested)  # a failed test is news, not an error
