"""值班看板: the duty officers' live board. The page holds the filters (in the URL); its live part
(chips with counts, the incidents, who is on duty, the newest ids for the new-incident banner) is
re-read every 5 s by duty-board.js through htmx. 签收 of one row or of the checked rows is one
request, in the officer's name, each act in the operations log in the same transaction."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from alerting.accounts import oplog
from alerting.accounts.sessions import Session
from alerting.county import actions, directory, duty
from alerting.county import board as boards
from alerting.domain import Role
from alerting.errors import NotFound
from alerting.http import conditional
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.duty_view import already_text, helpers
from alerting.web.listing import who
from alerting.web.session import acting, allow, signed_in
from alerting.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
WATCHERS = (Role.DUTY_OFFICER, Role.INFO_SECTION, Role.AUDITOR)
IDS = Form([])  # the ticked rows (at most 200 are acted on)


def _filters(chip: str, township: str, ctx: ServiceContext) -> tuple[str, str]:
    """Unknown values are dropped, not refused: a stale bookmark still opens the board."""
    return (
        chip if chip in boards.CHIP_ZH else "",
        township if ctx.policy.in_directory(township) else "",
    )


def _link(chip: str, township: str, page: int = 1) -> str:
    query = {k: v for k, v in (("chip", chip), ("township", township)) if v}
    if page > 1:
        query["page"] = str(page)
    return "/board" + (f"?{urlencode(query)}" if query else "")


async def _values(
    ctx: ServiceContext, session: Session, chip: str, township: str, page: int, *, fresh: bool = False
) -> dict[str, Any]:
    """`fresh`: the board recomputed, not shared (after one's own act)."""
    now = ctx.clock.now()
    async with reading(ctx.engine) as conn:
        shown = cast(boards.Chip, chip) if chip else None
        found = await boards.cached_board(
            conn,
            now,
            chip=shown,
            township=township or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            fresh=fresh,
        )
        pages = max(1, -(-found["total"] // PAGE_SIZE))
        if page > pages:  # a page that emptied since: show the last one
            page = pages
            found = await boards.cached_board(
                conn,
                now,
                chip=shown,
                township=township or None,
                limit=PAGE_SIZE,
                offset=(page - 1) * PAGE_SIZE,
                fresh=fresh,
            )
        on_duty = await directory.on_duty(conn, ctx.policy, now, None, present=True)
        newest = await duty.newest_open(conn)
    return {
        **helpers(now, ctx.policy.tz),
        "session": session,
        "title": "值班看板",
        "found": found,
        "on_duty": on_duty,
        "newest": newest,
        "chip": chip,
        "township": township,
        "townships": list(ctx.policy.townships),
        "page": page,
        "pages": pages,
        "chip_link": lambda name: _link(name, township),
        "here": _link(chip, township, page),
        "live_url": "/board/live?" + urlencode({"chip": chip, "township": township, "page": page}),
        "previous": _link(chip, township, page - 1) if page > 1 else None,
        "following": _link(chip, township, page + 1) if page < pages else None,
        "can_act": session.account.role in (Role.DUTY_OFFICER, Role.ADMIN),
        "messages": [],
    }


@router.get("/board", response_class=HTMLResponse)
async def board_page(
    request: Request,
    chip: str = Query("", max_length=32),
    township: str = Query("", max_length=64),
    page: int = Query(1, ge=1, le=100_000),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, *WATCHERS)
    chip, township = _filters(chip, township, ctx)
    values = await _values(ctx, session, chip, township, page)
    values["etag"] = _live_tag(values, session)  # so that the first refresh may already be a 304
    return render(request, ctx, "board.html", values)


def _live_tag(values: dict[str, Any], session: Session) -> str:
    """Everything the live part shows but the ticking times (which the page moves on by itself)."""
    return conditional.entity_tag(
        values["found"]["version"],
        values["on_duty"],
        values["newest"],
        values["page"],
        values["pages"],
        values["can_act"],
        values["live_url"],
        session.csrf_secret,  # the viewer: a tag never matches another session's page
    )


@router.get("/board/live", response_class=HTMLResponse)
async def board_live(
    request: Request,
    chip: str = Query("", max_length=32),
    township: str = Query("", max_length=64),
    page: int = Query(1, ge=1, le=100_000),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    """The live part, or 304 when duty-board.js offers the tag of what it shows and nothing changed."""
    allow(session, *WATCHERS)
    chip, township = _filters(chip, township, ctx)
    values = await _values(ctx, session, chip, township, page)
    tag = _live_tag(values, session)
    if conditional.fresh(request, tag):  # the page shows when it last checked, in the county's time
        checked = values["now"].astimezone(ctx.policy.tz).isoformat(timespec="seconds")
        return conditional.not_modified(tag, {"X-Board-Checked": checked})
    values["etag"] = tag
    return conditional.tagged(render(request, ctx, "board_live.html", values), tag)


@router.post("/board/ack", response_class=HTMLResponse)
async def acknowledge(
    request: Request,
    ids: list[str] = IDS,
    one: str = Form("", max_length=64),
    chip: str = Form("", max_length=32),
    township: str = Form("", max_length=64),
    page: int = Form(1, ge=1, le=100_000),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    """签收 of the row whose button was pressed (`one`), or else of every checked row."""
    allow(session, Role.DUTY_OFFICER)
    await signed_in(session)
    chosen = [one] if one else list(dict.fromkeys(i for i in ids if i))
    messages: list[dict[str, str]] = []
    if not chosen:
        messages.append({"kind": "error", "text": "请先勾选要签收的事件 / tick the incidents to acknowledge"})
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        for incident_id in chosen[:200]:
            try:
                done = await actions.acknowledge(conn, incident_id[:64], who(session), now)
            except NotFound:
                messages.append({"kind": "error", "text": f"没有事件 {incident_id} / no such incident"})
                continue
            if done.already:
                text = already_text(done.acknowledged_by, done.acknowledged_at, ctx.policy.tz)
                messages.append({"kind": "error", "text": f"{incident_id}：{text}，本次未重复签收"})
                continue
            await oplog.record(
                conn,
                at=now,
                actor=session.account.username,
                action="incident_acknowledged",
                target=incident_id,
            )
            messages.append({"kind": "notice", "text": f"{incident_id} 已签收"})
    chip, township = _filters(chip, township, ctx)
    values = await _values(ctx, session, chip, township, page, fresh=True)
    values["messages"] = messages
    name = "board_live.html" if request.headers.get("HX-Request") else "board.html"
    return render(request, ctx, name, values)
