"""The page behind an acknowledgement link: GET shows the incident and a 签收 button, POST acknowledges.

The GET changes nothing on purpose: chat apps and SMS link scanners fetch links to preview them.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from alerting.county import actions
from alerting.county.timeline import REPORT_ZH
from alerting.errors import InvalidLink, NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.links import AckClaim
from alerting.policy.roster import ROLES, addressed
from alerting.storage.engine import reading
from alerting.storage.schema import incidents, reports

router = APIRouter(tags=["acknowledgement links"])
Token = Path(min_length=10, max_length=1000)
ROLE_ZH = ROLES


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
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


def _casualties(row: Any) -> str:
    counted = [
        (n, word) for n, word in ((row.deaths, "死亡"), (row.injured, "受伤"), (row.missing_persons, "失踪"))
    ]
    if all(n is None for n, _ in counted):
        return "未报"
    return "，".join(f"{word} {n} 人" for n, word in counted if n is not None)


def _facts(row: Any, latest: Any, tz: ZoneInfo) -> str:
    """What the officer acknowledges: the incident as the county knows it and its latest report, with
    the reporter's phone to call back (the link is personal: only its holder sees this page)."""

    def at(value: datetime) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    lines = [
        ("乡镇", row.township),
        ("事件", row.title),
        ("等级 · 类别", f"{row.level}级 · {row.category}"),
        ("地点", row.place or "未报"),
        ("伤亡", _casualties(row)),
        ("发生时间", at(row.occurred_at)),
        ("乡镇获悉", at(row.known_at)),
        ("县委办收到", at(row.opened_at)),
    ]
    if row.origin == "county":
        lines.append(("来源", f"县委办登记（{row.source or '其他渠道'}），乡镇尚未报告"))
    cells = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in lines)
    report = ""
    if latest is not None:
        phone = escape(latest.reporter_phone)
        dial = escape("".join(ch for ch in latest.reporter_phone if ch.isdigit() or ch == "+"))
        kind = escape(REPORT_ZH.get(latest.type, latest.type))
        report = (
            f"<h2>最新报告：{kind}（{at(latest.reported_at)}）</h2>"
            f'<p class="summary">{escape(latest.summary)}</p>'
            f'<p>报告人：{escape(latest.reporter_name)} <a href="tel:{dial}">{phone}</a></p>'
        )
    return f'<dl class="facts">{cells}</dl>{report}'


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
        return page("无法签收", f"<p>{escape(str(exc))}</p>", status=400)
    async with reading(ctx.engine) as conn:
        row = (await conn.execute(select(incidents).where(incidents.c.id == claim.incident_id))).one_or_none()
        latest = (
            await conn.execute(
                select(reports)
                .where(reports.c.incident_id == claim.incident_id)
                .order_by(reports.c.reported_at.desc())
                .limit(1)
            )
        ).one_or_none()
    if row is None:
        return page("无法签收", "<p>事件不存在 / incident not found</p>", status=404)
    facts = _facts(row, latest, ctx.policy.tz)
    who = addressed(claim.role, claim.name)
    if row.acknowledged_at is not None:
        done = row.acknowledged_at.astimezone(ctx.policy.tz).strftime("%Y-%m-%d %H:%M:%S")
        return page("已签收", f"{facts}<p>已由 {escape(row.acknowledged_by or '')} 于 {done} 签收。</p>")
    form = (
        f'{facts}<form method="post"><p class="muted">以 {escape(who)} 的身份签收</p>'
        '<button type="submit">签收</button></form>'
    )
    return page("紧急信息签收", form)


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
        return page("无法签收", f"<p>{escape(str(exc))}</p>", status=400)
    who = f"{claim.name}（{ROLE_ZH.get(claim.role, claim.role)}，链接签收）"
    try:
        async with ctx.engine.begin() as conn:
            result = await actions.acknowledge(conn, claim.incident_id, who, ctx.clock.now())
    except NotFound:
        return page("无法签收", "<p>事件不存在 / incident not found</p>", status=404)
    when = result.acknowledged_at.astimezone(ctx.policy.tz).strftime("%Y-%m-%d %H:%M:%S")
    if result.already:
        return page("已签收", f"<p>此前已由 {escape(result.acknowledged_by)} 于 {when} 签收。</p>")
    return page("签收成功", f"<p>{escape(who)} 于 {when} 签收，逐级提醒已停止。</p>")
