"""The township clerk's side: 我的待办 (everything the township owes, with a live countdown) and the
notices sent to it with 签收. Every page here is its own township's only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from alerting.accounts import oplog
from alerting.accounts.sessions import Session
from alerting.county import board, notices
from alerting.domain import Role
from alerting.errors import NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.session import PageRefused, acting, redirect, signed_in
from alerting.web.templating import render

router = APIRouter(include_in_schema=False)
NoticeId = Path(min_length=1, max_length=64)

# Where the township meets each deadline: the report form with its type, or the routine item form.
REPORT_TYPE_OF = {
    "first_report": "first",
    "concealment_check": "first",
    "written_report": "written",
    "followup": "followup",
    "final_report": "final",
}


def township_of(session: Session) -> str:
    """The signed-in clerk's township; every other role (admin too: it has none) is refused."""
    account = session.account
    if account.role is not Role.TOWNSHIP or not account.township:
        raise PageRefused(
            f"此页面仅供乡镇信息员使用，您的角色是{account.role_zh}。/ "
            f"This page is for township clerks; your role is {account.role.value}."
        )
    return account.township


def who(session: Session) -> str:
    """A person as the county's records name them: display name and username."""
    return f"{session.account.display_name}（{session.account.username}）"


def not_ours(what: str, township: str) -> PageRefused:
    return PageRefused(
        f"{what}不属于{township}，无权查看。/ {what} belongs to another township: you may not open it."
    )


def _act_link(owed: dict[str, Any]) -> str | None:
    if owed["kind"] in REPORT_TYPE_OF and owed["incident_id"]:
        return f"/reports/new?type={REPORT_TYPE_OF[owed['kind']]}&incident={owed['incident_id']}"
    if owed["kind"] == "assignment" and owed["assignment_id"]:
        return f"/items/new?assignment={owed['assignment_id']}"
    if owed["kind"] in ("periodic", "silence"):
        return "/items/new"
    return None


@router.get("/todo", response_class=HTMLResponse)
async def todo(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    township = township_of(session)
    now = ctx.clock.now()
    async with reading(ctx.engine) as conn:
        found = await board.todo(conn, township, now)
    for owed in found["owed"]:
        owed["link"] = _act_link(owed)
    values = {"session": session, "todo": found, "now": now, "title": "我的待办"}
    return render(request, ctx, "township_todo.html", values)


@router.get("/notices", response_class=HTMLResponse)
async def notice_list(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    township = township_of(session)
    async with reading(ctx.engine) as conn:
        found = await notices.list_for_township(conn, township)
    values = {
        "session": session,
        "notices": found,
        "read": request.query_params.get("read", "")[:64],
        "title": "通报",
    }
    return render(request, ctx, "township_notices.html", values)


@router.post("/notices/{notice_id}/read")
async def mark_read(
    notice_id: str = NoticeId, session: Session = Depends(acting), ctx: ServiceContext = Depends(get_context)
) -> Response:
    await signed_in(session)
    township = township_of(session)
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        try:
            read = await notices.mark_read(conn, notice_id, township, who(session), now)
        except NotFound as exc:
            raise PageRefused(str(exc), status=404) from None
        if read is None:
            raise not_ours(f"通报 {notice_id} ", township)
        if not read["already_read"]:
            await oplog.record(
                conn, at=now, actor=session.account.username, action="notice_read", target=notice_id
            )
    return redirect(f"/notices?read={notice_id}")
