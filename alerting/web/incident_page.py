"""事件页 for the county: an incident's record, deadlines with countdowns and timeline, and the duty
officer's acts on it: 签收, 办结 (with a required note), 上报市委办 by phone or in writing. An act on
stale state is refused with what happened (who acknowledged, closed or forwarded it, and when)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from alerting.accounts import oplog
from alerting.accounts.sessions import Session
from alerting.county import actions, duty, queries
from alerting.domain import Role
from alerting.errors import ConflictError, NotFound
from alerting.events import EventKind
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.duty_view import already_text, helpers
from alerting.web.listing import who
from alerting.web.session import PageRefused, acting, allow, redirect, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/incidents", include_in_schema=False)
IncidentId = Path(min_length=1, max_length=64)
WATCHERS = (Role.DUTY_OFFICER, Role.INFO_SECTION, Role.AUDITOR)
MODE_ZH = {"phone": "电话", "written": "书面"}
DONE_ZH = {
    "acknowledged": "已签收，签收提醒已停止。",
    "closed": "已办结（应急响应结束），开始计算终报时限。",
    "phone": "已记录电话上报市委办。",
    "written": "已记录书面上报市委办。",
}


def _is(session: Session, *roles: Role) -> bool:
    return session.account.role in (*roles, Role.ADMIN)


async def _page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    incident_id: str,
    *,
    notice: str = "",
    error: str = "",
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    now = ctx.clock.now()
    try:
        async with reading(ctx.engine) as conn:
            detail = await queries.incident_detail(conn, incident_id, ctx.policy.tz)
    except NotFound as exc:
        raise PageRefused(f"没有事件 {incident_id} / {exc}", status=404) from exc
    is_open = detail["status"] == "open"
    values: dict[str, Any] = {
        **helpers(now, ctx.policy.tz),
        "session": session,
        "title": f"事件 {incident_id}",
        "i": detail,
        "latest": detail["reports"][-1] if detail["reports"] else None,
        "can_ack": _is(session, Role.DUTY_OFFICER) and detail["acknowledged_at"] is None,
        "can_close": _is(session, Role.DUTY_OFFICER, Role.INFO_SECTION) and is_open,
        "can_forward": _is(session, Role.DUTY_OFFICER),
        "notice": notice,
        "error": error,
        "errors": errors or {},
        "form": form or {},
    }
    return render(request, ctx, "incident.html", values, status=status)


@router.get("/{incident_id}", response_class=HTMLResponse)
async def incident(
    request: Request,
    incident_id: str = IncidentId,
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, *WATCHERS)
    done = request.query_params.get("done", "")
    return await _page(request, ctx, session, incident_id, notice=DONE_ZH.get(done, ""))


def _done(incident_id: str, what: str) -> Response:
    # Post/redirect/get: reloading the page does not repeat the act.
    return redirect(f"/incidents/{incident_id}?done={what}")


@router.post("/{incident_id}/ack", response_class=HTMLResponse)
async def acknowledge(
    request: Request,
    incident_id: str = IncidentId,
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    allow(session, Role.DUTY_OFFICER)
    await signed_in(session)
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            done = await actions.acknowledge(conn, incident_id, who(session), now)
            if not done.already:
                await oplog.record(
                    conn,
                    at=now,
                    actor=session.account.username,
                    action="incident_acknowledged",
                    target=incident_id,
                )
    except NotFound as exc:
        raise PageRefused(f"没有事件 {incident_id} / {exc}", status=404) from exc
    if done.already:
        error = already_text(done.acknowledged_by, done.acknowledged_at, ctx.policy.tz) + "，本次未重复签收。"
        return await _page(request, ctx, session, incident_id, error=error, status=409)
    return _done(incident_id, "acknowledged")


@router.post("/{incident_id}/close", response_class=HTMLResponse)
async def close(
    request: Request,
    incident_id: str = IncidentId,
    note: str = Form("", max_length=1000),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    allow(session, Role.DUTY_OFFICER, Role.INFO_SECTION)
    await signed_in(session)
    note = note.strip()
    if len(note) < 2:
        errors = {"note": "请填写办结说明（至少 2 个字）/ a note is required to close"}
        return await _page(request, ctx, session, incident_id, errors=errors, form={"note": note}, status=400)
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            due = await actions.close(conn, incident_id, who(session), ctx.policy, now, note=note)
            await oplog.record(
                conn, at=now, actor=session.account.username, action="incident_closed", target=incident_id
            )
    except NotFound as exc:
        raise PageRefused(f"没有事件 {incident_id} / {exc}", status=404) from exc
    except ConflictError:
        async with reading(ctx.engine) as conn:
            last = await duty.last_act(conn, incident_id, EventKind.CLOSED)
        when = last.at.astimezone(ctx.policy.tz).strftime("%H:%M") if last else "—"
        error = f"已由 {last.actor if last else '—'} 于 {when} 办结，本次未重复办结。"
        return await _page(request, ctx, session, incident_id, error=error, status=409)
    ctx.on_armed(due)
    return _done(incident_id, "closed")


@router.post("/{incident_id}/forward", response_class=HTMLResponse)
async def forward(
    request: Request,
    incident_id: str = IncidentId,
    mode: str = Form("", max_length=16),
    note: str = Form("", max_length=500),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    allow(session, Role.DUTY_OFFICER)
    await signed_in(session)
    if mode not in MODE_ZH:
        errors = {"mode": "请选择上报方式（电话或书面）/ choose phone or written"}
        return await _page(
            request, ctx, session, incident_id, errors=errors, form={"fnote": note}, status=400
        )
    chosen: Literal["phone", "written"] = "phone" if mode == "phone" else "written"
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            # Twice the same report to the city is a stale page, not a second report.
            last = await duty.last_act(conn, incident_id, EventKind.FORWARDED, chosen)
            if last is None:
                await actions.forward(conn, incident_id, chosen, who(session), note.strip(), now)
                await oplog.record(
                    conn,
                    at=now,
                    actor=session.account.username,
                    action="incident_forwarded",
                    target=incident_id,
                    details={"mode": chosen},
                )
    except NotFound as exc:
        raise PageRefused(f"没有事件 {incident_id} / {exc}", status=404) from exc
    if last is not None:
        when = last.at.astimezone(ctx.policy.tz).strftime("%H:%M")
        error = f"已由 {last.actor} 于 {when} {MODE_ZH[chosen]}上报市委办，本次未重复记录。"
        return await _page(request, ctx, session, incident_id, error=error, status=409)
    return _done(incident_id, chosen)
