"""通报 as the information section sends them: a notice (通报工作动态 or 报送要点) to every township
or to those chosen, the list of those sent with how many have read each, and a notice's page with
who has read it and when (the township's 签收 on its own /notices page)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from alerting.accounts.sessions import Session
from alerting.county import notices
from alerting.domain import NOTICE_KIND_ZH, NoticeKind, Role
from alerting.errors import NotFound, UnknownTownship
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.forms import Errors
from alerting.web.listing import logged, pager, times, who
from alerting.web.session import PageRefused, acting, allow, redirect, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/notices/manage", include_in_schema=False)
PAGE = 20


async def _page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    kind: str = "",
    page: int = 1,
    *,
    form: dict[str, Any] | None = None,
    errors: Errors | None = None,
    status: int = 200,
) -> HTMLResponse:
    kind = kind if kind in NOTICE_KIND_ZH else ""
    async with reading(ctx.engine) as conn:  # newest first; the page is cut from the top
        found = await notices.list_sent(conn, NoticeKind(kind) if kind else None, limit=page * PAGE + 1)
    filters = {"kind": kind}
    values: dict[str, Any] = {
        "session": session,
        "title": "通报",
        "rows": found[(page - 1) * PAGE : page * PAGE],
        "filters": filters,
        "pager": pager("/notices/manage", filters, page, len(found) > page * PAGE),
        "kinds": NOTICE_KIND_ZH,
        "townships": sorted(ctx.policy.townships),
        "form": form or {"kind": "work_update", "to": "all", "townships": []},
        "errors": errors or {},
        **times(ctx.clock.now()),
    }
    return render(request, ctx, "notices_sent.html", values, status=status)


@router.get("", response_class=HTMLResponse)
async def list_page(
    request: Request,
    kind: str = Query("", max_length=32),
    page: int = Query(1, ge=1, le=10_000),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    return await _page(request, ctx, session, kind, page)


@router.post("", response_class=HTMLResponse)
async def send(
    request: Request, session: Session = Depends(acting), ctx: ServiceContext = Depends(get_context)
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    posted = await request.form()
    form: dict[str, Any] = {k: str(posted.get(k, "")).strip()[:20000] for k in ("kind", "title", "body")}
    form["to"] = "some" if posted.get("to") == "some" else "all"
    form["townships"] = [str(t)[:64] for t in posted.getlist("townships")][:500]
    errors: Errors = {}
    if form["kind"] not in NOTICE_KIND_ZH:
        errors["kind"] = "请选择通报类别 / choose the kind"
    if not form["title"] or len(form["title"]) > 200:
        errors["title"] = "请填写标题（200 字以内）/ a title of at most 200 characters"
    if not form["body"]:
        errors["body"] = "请填写正文 / the notice needs a text"
    chosen = tuple(form["townships"]) if form["to"] == "some" else ()
    if form["to"] == "some" and not chosen:
        errors["townships"] = "请选择至少一个乡镇，或选“全部乡镇” / choose townships, or all of them"
    if errors:
        return await _page(request, ctx, session, form=form, errors=errors, status=422)
    new = notices.NewNotice(NoticeKind(form["kind"]), form["title"], form["body"], chosen)
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            sent = await notices.send(conn, new, ctx.policy, who(session), now)
            towns = list(chosen) or ["全部"]
            await logged(conn, session, now, "notice_sent", sent["id"], townships=towns)
    except UnknownTownship as exc:
        return await _page(request, ctx, session, form=form, errors={"townships": str(exc)}, status=422)
    return redirect(f"/notices/manage/{sent['id']}?done=sent")


@router.get("/{notice_id}", response_class=HTMLResponse)
async def one(
    request: Request,
    notice_id: str = Path(min_length=1, max_length=64),
    done: str = Query("", max_length=16),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    async with reading(ctx.engine) as conn:
        try:
            found = await notices.get(conn, notice_id)
        except NotFound as exc:
            raise PageRefused(str(exc), status=404) from None
    values: dict[str, Any] = {
        "session": session,
        "title": f"通报：{found['title']}",
        "n": found,
        "notice": "通报已发出。" if done == "sent" else "",
        **times(ctx.clock.now()),
    }
    return render(request, ctx, "notice_sent.html", values)
