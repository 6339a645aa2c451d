"""续报跟踪: across townships, the written, follow-up and final reports the incidents still owe, each
with its countdown, overdue first; township and kind in the URL, paged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from alerting.accounts.sessions import Session
from alerting.county import board
from alerting.domain import DeadlineKind, Role
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.listing import pager, times
from alerting.web.session import allow, signed_in
from alerting.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE = 50
KINDS = {k.value: board.OWED_ZH[k] for k in board.FOLLOWED}


@router.get("/followups", response_class=HTMLResponse)
async def followups(
    request: Request,
    township: str = Query("", max_length=64),
    kind: str = Query("", max_length=32),
    page: int = Query(1, ge=1, le=100_000),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    kind = kind if kind in KINDS else ""
    now = ctx.clock.now()
    async with reading(ctx.engine) as conn:
        rows = await board.owed_reports(
            conn,
            now,
            township=township or None,
            kind=DeadlineKind(kind) if kind else None,
            limit=PAGE + 1,
            offset=(page - 1) * PAGE,
        )
    filters = {"township": township, "kind": kind}
    values: dict[str, Any] = {
        "session": session,
        "title": "续报跟踪",
        "rows": rows[:PAGE],
        "filters": filters,
        "pager": pager("/followups", filters, page, len(rows) > PAGE),
        "townships": sorted(ctx.policy.townships),
        "kinds": KINDS,
        **times(now),
    }
    return render(request, ctx, "followups.html", values)
