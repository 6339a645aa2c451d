"""我的报送: the township's history of reports and items with what became of each, filtered in the URL
and paged; one item's page with its versions and timeline; one incident's page as the township may
read it. Another township's item or incident is refused (403), never shown."""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from alerting.accounts.sessions import Session
from alerting.county import history, items, queries
from alerting.county.history import STATUS_ZH, Filters, Kind
from alerting.county.timeline import REPORT_ZH
from alerting.domain import ADOPTION_LEVEL_ZH, ITEM_STATUS_ZH
from alerting.errors import NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.forms import day_range
from alerting.web.session import PageRefused, signed_in
from alerting.web.templating import render
from alerting.web.township import not_ours, township_of

router = APIRouter(include_in_schema=False)
KIND_ZH = {"report": "紧急信息", "item": "日常信息"}


@router.get("/submissions", response_class=HTMLResponse)
async def submissions(
    request: Request,
    kind: str = Query("", max_length=16),
    status: str = Query("", max_length=16),
    since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
    page: int = Query(1, ge=1, le=1_000_000),
    sent: str = Query("", max_length=16),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    township = township_of(session)
    kind = kind if kind in get_args(Kind) else ""
    status = status if status in STATUS_ZH else ""
    start, end = day_range(since, until, ctx.policy.tz)
    filters = Filters(kind=kind or None, status=status or None, since=start, until=end)  # type: ignore[arg-type]
    async with reading(ctx.engine) as conn:
        found = await history.page_of(conn, township, filters, page)
    query = {k: v for k, v in (("kind", kind), ("status", status), ("since", since), ("until", until)) if v}

    def link(to: int) -> str:
        return "/submissions?" + urlencode({**query, "page": to})

    values = {
        "session": session,
        "title": "我的报送",
        "found": found,
        "filters": {"kind": kind, "status": status, "since": since, "until": until},
        "kinds": KIND_ZH,
        "statuses": STATUS_ZH,
        "report_zh": REPORT_ZH,
        "adoption_zh": ADOPTION_LEVEL_ZH,
        "sent": sent if sent in KIND_ZH else "",
        "now": ctx.clock.now(),
        "previous": link(found.page - 1) if found.page > 1 else None,
        "following": link(found.page + 1) if found.page < found.pages else None,
    }
    return render(request, ctx, "submissions.html", values)


@router.get("/items/{item_id}", response_class=HTMLResponse)
async def item_page(
    request: Request,
    item_id: str = Path(min_length=1, max_length=64),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    township = township_of(session)
    async with reading(ctx.engine) as conn:
        try:
            detail = await items.item_detail(conn, item_id, ctx.policy.tz)
        except NotFound as exc:
            raise PageRefused(str(exc), status=404) from None
    if detail["township"] != township:
        raise not_ours(f"日常信息 {item_id} ", township)
    values: dict[str, Any] = {
        "session": session,
        "title": detail["title"],
        "item": detail,
        "status_zh": ITEM_STATUS_ZH,
        "adoption_zh": ADOPTION_LEVEL_ZH,
        "now": ctx.clock.now(),
    }
    return render(request, ctx, "item_page.html", values)


@router.get("/my/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(
    request: Request,
    incident_id: str = Path(min_length=1, max_length=64),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    """The township's view of its incident: its reports, what it still owes, and the timeline of
    reports and the county's acts (escalations to the county's people are not the township's)."""
    township = township_of(session)
    async with reading(ctx.engine) as conn:
        try:
            detail = await queries.incident_detail(conn, incident_id, ctx.policy.tz)
        except NotFound:
            raise PageRefused(f"未找到事件 {incident_id} / no incident {incident_id}", status=404) from None
    if detail["township"] != township:
        raise not_ours(f"事件 {incident_id} ", township)
    values: dict[str, Any] = {
        "session": session,
        "title": detail["title"],
        "incident": detail,
        # Who was reminded, by which channel, is the county's own business.
        "timeline": [t for t in detail["timeline"] if t["kind"] != "escalation"],
        "report_zh": REPORT_ZH,
        "now": ctx.clock.now(),
    }
    return render(request, ctx, "my_incident.html", values)
