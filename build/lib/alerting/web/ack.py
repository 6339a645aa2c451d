"""The page behind an acknowledgement link: GET shows the incident and a 签收 button, POST acknowledges.

The GET changes nothing on purpose: chat apps and SMS link scanners fetch links to preview them.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from alerting.county import actions
from alerting.errors import InvalidLink, NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.links import AckClaim
from alerting.policy.roster import ROLES, addressed
from alerting.storage.engine import reading
from alerting.storage.schema import incidents

router = APIRouter(tags=["acknowledgement links"])
Token = Path(min_length=10, max_length=1000)
ROLE_ZH = ROLES


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{escape(title)}</title>
<link rel="stylesheet" href="/static/ack.css"></head>
<body><h1>{escape(title)}</h1>{body}</body></html>"""
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _claim(ctx: ServiceContext, token: str) -> AckClaim:
    links = ctx.links()
    if links is None:
        raise InvalidLink("服务尚未就绪 / the service is starting")
    return links.verify(token, ctx.clock.now())


PAGE_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the link is invalid or expired", "content": {"text/html": {}}},
    404: {"description": "the incident does not exist", "content": {"text/html": {}}},
}


@router.get(
    "/ack/{token}",
    response_class=HTMLResponse,
    responses=PAGE_ANSWERS,
    summary="签收页面 / acknowledgement page",
)
async def show(token: str = Token, ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    try:
        claim = _claim(ctx, token)
    except InvalidLink as exc:
        return _page("无法签收", f"<p>{escape(str(exc))}</p>", status=400)
    async with reading(ctx.engine) as conn:
        row = (await conn.execute(select(incidents).where(incidents.c.id == claim.incident_id))).one_or_none()
    if row is None:
        return _page("无法签收", "<p>事件不存在 / incident not found</p>", status=404)
    local = row.known_at.astimezone(ctx.policy.tz).strftime("%Y-%m-%d %H:%M")
    facts = (
        f"<p><b>{escape(row.township)}</b>「{escape(row.title)}」<br>{escape(row.level)}级 · "
        f"{escape(row.category)} · 获悉 {local}</p>"
    )
    who = addressed(claim.role, claim.name)
    if row.acknowledged_at is not None:
        done = row.acknowledged_at.astimezone(ctx.policy.tz).strftime("%Y-%m-%d %H:%M:%S")
        return _page("已签收", f"{facts}<p>已由 {escape(row.acknowledged_by or '')} 于 {done} 签收。</p>")
    form = (
        f'{facts}<form method="post"><p class="muted">以 {escape(who)} 的身份签收</p>'
        '<button type="submit">签收</button></form>'
    )
    return _page("紧急信息签收", form)


@router.post(
    "/ack/{token}",
    response_class=HTMLResponse,
    responses=PAGE_ANSWERS,
    summary="签收 / acknowledge through a link",
)
async def acknowledge(token: str = Token, ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    try:
        claim = _claim(ctx, token)
    except InvalidLink as exc:
        return _page("无法签收", f"<p>{escape(str(exc))}</p>", status=400)
    who = f"{claim.name}（{ROLE_ZH.get(claim.role, claim.role)}，链接签收）"
    try:
        async with ctx.engine.begin() as conn:
            result = await actions.acknowledge(conn, claim.incident_id, who, ctx.clock.now())
    except NotFound:
        return _page("无法签收", "<p>事件不存在 / incident not found</p>", status=404)
    when = result.acknowledged_at.astimezone(ctx.policy.tz).strftime("%Y-%m-%d %H:%M:%S")
    if result.already:
        return _page("已签收", f"<p>此前已由 {escape(result.acknowledged_by)} 于 {when} 签收。</p>")
    return _page("签收成功", f"<p>{escape(who)} 于 {when} 签收，逐级提醒已停止。</p>")
