"""季度通报 / 年度排名 for auditors and the information section: the periods (published ones and
live drafts), a bulletin's page (the auditors' rendering, styled by a file: the CSP admits no inline
style), the XLSX and the self-contained HTML file, and a drill-down from a township to its entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from alerting.accounts.sessions import Session
from alerting.audit import bulletins, exports
from alerting.audit.render import bulletin_css, bulletin_fragment, bulletin_html, bulletin_xlsx
from alerting.domain import Role
from alerting.http.context import ServiceContext, get_context
from alerting.policy.calendar import quarter_of
from alerting.storage.engine import reading
from alerting.web.listing import link
from alerting.web.session import PageRefused, allow, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/bulletins", include_in_schema=False)
READERS = (Role.AUDITOR, Role.INFO_SECTION)
PeriodKey = Path(pattern=r"^\d{4}(-Q[1-4])?$")


def _period(key: str, ctx: ServiceContext) -> tuple[bulletins.BulletinKind, Any]:
    try:
        return bulletins.parse_period(key, ctx.policy.tz)
    except ValueError as exc:
        raise PageRefused(f"期间无效：{exc} / not a period", status=404) from None


def _recent(now: datetime, ctx: ServiceContext) -> list[str]:
    """The current and previous quarters of this year and last, and both years: drafts or published."""
    tz = ctx.policy.tz
    keys = [quarter_of(now, tz).key]
    at = now
    for _ in range(4):
        previous = bulletins.previous("quarter", at, tz)
        keys.append(previous.key)
        at = previous.start
    year = now.astimezone(tz).year
    return [*keys, str(year), str(year - 1)]


@router.get("", response_class=HTMLResponse)
async def periods(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    allow(session, *READERS)
    async with reading(ctx.engine) as conn:
        published = {r["period"]: r for r in await bulletins.list_published(conn)}
    keys = sorted(set(_recent(ctx.clock.now(), ctx)) | set(published), reverse=True)
    rows = [{"period": k, "title": _title(k), "published": published.get(k)} for k in keys]
    return render(request, ctx, "bulletins.html", {"session": session, "rows": rows})


def _title(key: str) -> str:
    if "-Q" in key:
        year, quarter = key.split("-Q")
        return f"{year}年第{'一二三四'[int(quarter) - 1]}季度通报"
    return f"{key}年度排名"


@router.get("/bulletin.css")
async def stylesheet() -> Response:
    """The bulletin's own stylesheet, the one the downloadable file inlines."""
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(bulletin_css(), media_type="text/css; charset=utf-8", headers=headers)


async def _content(ctx: ServiceContext, key: str) -> tuple[dict[str, Any], datetime | None, Any]:
    kind, span = _period(key, ctx)
    async with reading(ctx.engine) as conn:
        stored = await bulletins.published(conn, kind, span.key)
        if stored:
            return stored["content"], stored["published_at"], span
        return await bulletins.compute(conn, ctx.policy, kind, span, ctx.clock.now()), None, span


@router.get("/{period}", response_class=HTMLResponse)
async def bulletin_page(
    request: Request,
    period: str = PeriodKey,
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, *READERS)
    content, published_at, span = await _content(ctx, period)

    def drill(township: str) -> str:
        return link("/entries", {"township": township, "period": span.key})

    article = bulletin_fragment(content, published_at=published_at, tz=ctx.policy.tz, drill=drill)
    values = {
        "session": session,
        "period": span.key,
        "title": _title(span.key),
        "published_at": published_at,
        "article": Markup(article),  # rendered by the auditors' autoescaping template
    }
    return render(request, ctx, "bulletin.html", values)


@router.get("/{period}/xlsx")
async def bulletin_workbook(
    period: str = PeriodKey, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> Response:
    allow(session, *READERS)
    content, _, span = await _content(ctx, period)
    headers = {"Content-Disposition": f'attachment; filename="bulletin-{span.key}.xlsx"'}
    return Response(
        bulletin_xlsx(content, ctx.policy.tz), media_type=exports.XLSX_MEDIA_TYPE, headers=headers
    )


@router.get("/{period}/html")
async def bulletin_file(
    period: str = PeriodKey, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> Response:
    """The self-contained file (its own <style>), downloaded rather than shown under the page CSP."""
    allow(session, *READERS)
    content, published_at, span = await _content(ctx, period)
    page = bulletin_html(content, published_at=published_at, tz=ctx.policy.tz)
    headers = {"Content-Disposition": f'attachment; filename="bulletin-{span.key}.html"'}
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)
