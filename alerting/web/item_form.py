"""报送日常信息: the township's form for a routine item (a routine category, title, text, the names of
its attachments, the assignment it answers), or a new version of a returned one, prefilled from it.

It checks what POST /api/v1/items checks, with the same model (ItemBody), and publishes through
ctx.publisher like the API, so the item reaches the county through Kafka."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accounts import oplog
from alerting.accounts.sessions import Session
from alerting.county import assignments, items
from alerting.domain import ITEM_STATUS_ZH, ItemStatus
from alerting.errors import IntakeUnavailable, NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.forms import Errors, field_errors
from alerting.web.session import PageRefused, acting, redirect, signed_in
from alerting.web.templating import render
from alerting.web.township import not_ours, township_of
from consumers.item_codec import ItemBody, ItemMessage
from escalation.assignments import given_to

router = APIRouter(include_in_schema=False)
FIELDS = (
    "submission_id", "item_id", "category", "title", "text", "attachments", "assignment_id",
    "reporter_name", "reporter_phone", "is_problem",
)  # fmt: skip
REVISABLE = (ItemStatus.SUBMITTED.value, ItemStatus.RETURNED.value)


async def owed_assignments(conn: AsyncConnection, township: str) -> list[dict[str, Any]]:
    """The assignments given to the township that it has not answered yet."""
    given = await assignments.list_assignments(conn, township)
    return [a for a in given if any(p["state"] in ("owed", "overdue") for p in a["parts"])]


async def _revised(conn: AsyncConnection, item_id: str, township: str, ctx: ServiceContext) -> dict[str, Any]:
    try:
        detail = await items.item_detail(conn, item_id, ctx.policy.tz)
    except NotFound as exc:
        raise PageRefused(str(exc), status=404) from None
    if detail["township"] != township:
        raise not_ours(f"日常信息 {item_id} ", township)
    return detail


async def _page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    form: dict[str, str],
    errors: Errors | None = None,
    status: int = 200,
) -> HTMLResponse:
    township = township_of(session)
    revising = None
    async with reading(ctx.engine) as conn:
        owed = await owed_assignments(conn, township)
        if form.get("item_id"):
            revising = await _revised(conn, form["item_id"], township, ctx)
    values: dict[str, Any] = {
        "session": session,
        "title": "报送日常信息",
        "form": form,
        "errors": errors or {},
        "routine": [c for c, r in ctx.policy.categories.items() if r.stream == "routine"],
        "assignments": owed,
        "revising": revising,
        "status_zh": ITEM_STATUS_ZH,
    }
    return render(request, ctx, "item_form.html", values, status=status)


@router.get("/items/new", response_class=HTMLResponse)
async def item_form(
    request: Request,
    assignment: str = Query("", max_length=64),
    revise: str = Query("", max_length=64),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    township = township_of(session)
    form = {
        "submission_id": f"sub-{secrets.token_hex(6)}",
        "assignment_id": assignment,
        "reporter_name": session.account.display_name,
    }
    if revise:
        async with reading(ctx.engine) as conn:
            detail = await _revised(conn, revise, township, ctx)
        latest = detail["versions"][-1] if detail["versions"] else {}
        form |= {
            "item_id": revise,
            "category": detail["category"],
            "title": latest.get("title", detail["title"]),
            "text": latest.get("text", ""),
            "attachments": "\n".join(latest.get("attachments", [])),
            "assignment_id": detail["assignment_id"] or "",
            "reporter_name": latest.get("reporter_name", session.account.display_name),
            "reporter_phone": latest.get("reporter_phone", ""),
        }
    return await _page(request, ctx, session, form)


def _body(form: dict[str, str], township: str) -> dict[str, Any]:
    names = [line.strip() for line in form.get("attachments", "").splitlines() if line.strip()]
    return {
        "submission_id": form.get("submission_id") or None,
        "item_id": form.get("item_id") or None,
        "township": township,
        "category": form.get("category", ""),
        "title": form.get("title", ""),
        "text": form.get("text", ""),
        "attachments": names,
        "assignment_id": form.get("assignment_id") or None,
        "reporter": {"name": form.get("reporter_name", ""), "phone": form.get("reporter_phone", "")},
        "is_problem": {"yes": True, "no": False}.get(form.get("is_problem", "")),
    }


async def check(form: dict[str, str], township: str, ctx: ServiceContext) -> ItemBody | Errors:
    """The model's checks and the API's, as {field: message}."""
    try:
        body = ItemBody.model_validate(_body(form, township))
    except ValidationError as exc:
        return field_errors(exc)
    if (refusal := ctx.policy.category_refusal(body.category, "routine")) is not None:
        return {"category": refusal + "。紧急信息请在“报送紧急信息”页面报送（/reports/new）。"}
    async with reading(ctx.engine) as conn:
        if body.assignment_id is not None:
            given = await given_to(conn, body.assignment_id)
            if given is None or township not in given:
                return {"assignment_id": f"{township} 没有约稿 {body.assignment_id} / no such assignment"}
        if body.item_id is not None:
            detail = await _revised(conn, body.item_id, township, ctx)
            if detail["status"] not in REVISABLE:
                return {
                    "form": f"该信息{ITEM_STATUS_ZH[detail['status']]}（{detail['decided_by']}），"
                    "不能再报新版本 / "
                    f"item {body.item_id} was {detail['status']}; it takes no new version"
                }
    return body


@router.post("/items", response_class=HTMLResponse)
async def submit_item(
    request: Request, session: Session = Depends(acting), ctx: ServiceContext = Depends(get_context)
) -> Response:
    await signed_in(session)
    township = township_of(session)
    posted = await request.form()
    form = {name: str(posted.get(name, ""))[:50000] for name in FIELDS}
    checked = await check(form, township, ctx)
    if not isinstance(checked, ItemBody):
        return await _page(request, ctx, session, form, checked, status=422)
    now = ctx.clock.now()
    submission_id = checked.submission_id or f"sub-{secrets.token_hex(6)}"
    message = ItemMessage.model_validate(
        {
            **checked.model_dump(),
            "type": "routine",
            "submission_id": submission_id,
            "item_id": checked.item_id or submission_id,
            "submitted_at": now,  # the county's receipt: the service's clock
        }
    )
    try:
        await ctx.publisher.publish_item(message)
    except IntakeUnavailable:
        error = {
            "form": "报送未成功：消息总线暂不可用，本页内容已保存为草稿，请稍后再点“报送”。/ "
            "Not sent: the message bus is unavailable; the draft is kept, send again shortly."
        }
        return await _page(request, ctx, session, form, error, status=503)
    async with ctx.engine.begin() as conn:
        await oplog.record(
            conn, at=now, actor=session.account.username, action="item_submitted",
            target=message.item_id, details={"submission_id": submission_id, "category": message.category},
        )  # fmt: skip
    return redirect(f"/submissions?sent=item&id={message.item_id}")
