"""操作日志: the operations log for admins and auditors, newest first, paged, filtered by person and
action with the filters in the URL (a link to a filtered page can be shared)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from alerting.accounts import oplog
from alerting.accounts.sessions import Session
from alerting.domain import Role
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.session import allow, signed_in
from alerting.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/operations", response_class=HTMLResponse)
async def operations(
    request: Request,
    actor: str = Query("", max_length=100),
    action: str = Query("", max_length=32),
    page: int = Query(1, ge=1, le=1_000_000),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.AUDITOR)
    action = action if action in oplog.ACTION_ZH else ""
    async with reading(ctx.engine) as conn:
        found = await oplog.page_of(conn, actor=actor.strip() or None, action=action or None, page=page)
        people = await oplog.actors(conn)

    def link(to: int) -> str:
        query = {k: v for k, v in (("actor", actor), ("action", action)) if v}
        return "/operations?" + urlencode({**query, "page": to})

    values = {
        "session": session,
        "found": found,
        "actor": actor,
        "action": action,
        "people": people,
        "previous": link(found.page - 1) if found.page > 1 else None,
        "following": link(found.page + 1) if found.page < found.pages else None,
    }
    return render(request, ctx, "operations.html", values)
