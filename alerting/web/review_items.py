"""信息审核: the information section's review of routine items. A list of items awaiting review and
decided ones (township, category, status and period in the URL, paged); an item's page with its
versions and timeline; adopt / return / file on the version shown; 上报 of an adopted item.

A decision names the version the reviewer read: a stale one is refused by the county act (409) and
the page is shown again, refreshed, with who decided what and when."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from alerting.accounts.sessions import Session
from alerting.county import items
from alerting.domain import ADOPTION_LEVEL_ZH, ITEM_STATUS_ZH, ItemDecision, ItemStatus, Role
from alerting.errors import ConflictError, NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.listing import ALL, link, logged, pager, period_choices, span_of, times, who
from alerting.web.session import PageRefused, acting, allow, redirect, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/review/items", include_in_schema=False)
ItemId = Path(min_length=1, max_length=64)
PAGE = 20
DECISION_ZH = {"adopt": "采用", "return": "退回", "file": "存档"}


def _routine_categories(ctx: ServiceContext) -> list[str]:
    return [name for name, rules in ctx.policy.categories.items() if rules.stream == "routine"]


@router.get("", response_class=HTMLResponse)
async def list_page(
    request: Request,
    township: str = Query("", max_length=64),
    category: str = Query("", max_length=64),
    status: str = Query(ItemStatus.SUBMITTED.value, max_length=16),
    period: str = Query("", max_length=16),
    page: int = Query(1, ge=1, le=100_000),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    now, tz = ctx.clock.now(), ctx.policy.tz
    span = span_of(period, now, tz)
    status = status if status in ITEM_STATUS_ZH or status == ALL else ItemStatus.SUBMITTED.value
    async with reading(ctx.engine) as conn:
        rows = await items.list_items(
            conn,
            township=township or None,
            category=category or None,
            status=ItemStatus(status) if status != ALL else None,
            since=span.since,
            until=span.until,
            limit=PAGE + 1,
            offset=(page - 1) * PAGE,
        )
    filters = {"township": township, "category": category, "status": status, "period": span.key}
    values: dict[str, Any] = {
        "session": session,
        "rows": rows[:PAGE],
        "filters": filters,
        "pager": pager("/review/items", filters, page, len(rows) > PAGE),
        "townships": sorted(ctx.policy.townships),
        "categories": _routine_categories(ctx),
        "statuses": ITEM_STATUS_ZH,
        "periods": period_choices(now, tz),
        "levels": ADOPTION_LEVEL_ZH,
        **times(now),
    }
    return render(request, ctx, "review_items.html", values)


async def _item_page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    item_id: str,
    *,
    error: str = "",
    notice: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with reading(ctx.engine) as conn:
        try:
            item = await items.item_detail(conn, item_id, ctx.policy.tz)
        except NotFound as exc:
            raise PageRefused(str(exc), status=404) from None
    values: dict[str, Any] = {
        "session": session,
        "item": item,
        "current": item["versions"][-1] if item["versions"] else None,
        "statuses": ITEM_STATUS_ZH,
        "levels": ADOPTION_LEVEL_ZH,
        "decisions": DECISION_ZH,
        "forwards": [e for e in item["timeline"] if e["kind"] == "forwarded"],
        "error": error,
        "notice": notice,
        "form": form or {},
        "back": link("/review/items", {"township": item["township"]}, status=ALL),
        **times(ctx.clock.now()),
    }
    return render(request, ctx, "review_item.html", values, status=status)


@router.get("/{item_id}", response_class=HTMLResponse)
async def item_page(
    request: Request,
    item_id: str = ItemId,
    done: str = Query("", max_length=16),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    notice = {"decided": "审核结果已保存。", "forwarded": "已记录上报。"}.get(done, "")
    return await _item_page(request, ctx, session, item_id, notice=notice)


def _published_on(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise ConflictError("刊发日期格式应为 YYYY-MM-DD / the publication date is YYYY-MM-DD") from None


def _decision(
    decision: str,
    version: int,
    reason: str,
    level: str,
    publication: str,
    issue: str,
    published_on: str,
) -> items.Decision:
    if decision not in DECISION_ZH:
        raise ConflictError("请选择审核结果（采用、退回或存档）/ choose adopt, return or file")
    kind = ItemDecision(decision)
    adopting = kind is ItemDecision.ADOPT
    if adopting and level not in ADOPTION_LEVEL_ZH:
        raise ConflictError("采用须选择级别 / an adoption needs a level")
    chosen = items.Decision(
        kind,
        version,
        reason.strip() or None,
        level if adopting else None,
        (publication.strip() or None) if adopting else None,
        (issue.strip() or None) if adopting else None,
        _published_on(published_on.strip()) if adopting else None,
    )
    if (refusal := chosen.refusal()) is not None:
        raise ConflictError(refusal)
    return chosen


@router.post("/{item_id}/decision", response_class=HTMLResponse)
async def decide(
    request: Request,
    item_id: str = ItemId,
    decision: str = Form("", max_length=16),
    version: int = Form(0, ge=0, le=1_000_000),
    reason: str = Form("", max_length=1000),
    level: str = Form("", max_length=16),
    publication: str = Form("", max_length=100),
    issue: str = Form("", max_length=50),
    published_on: str = Form("", max_length=10),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    form = {"decision": decision, "reason": reason, "level": level, "publication": publication}
    form |= {"issue": issue, "published_on": published_on}
    try:
        chosen = _decision(decision, version, reason, level, publication, issue, published_on)
    except ConflictError as exc:  # incomplete: the form again with what is missing
        return await _item_page(request, ctx, session, item_id, error=str(exc), form=form, status=400)
    try:
        now = ctx.clock.now()
        async with ctx.engine.begin() as conn:
            await items.decide(conn, item_id, chosen, who(session), ctx.policy.tz, now)
            details: dict[str, object] = {"decision": decision, "version": version}
            if chosen.level:
                details["level"] = chosen.level
            await logged(conn, session, now, "item_decided", item_id, **details)
    except NotFound as exc:
        raise PageRefused(str(exc), status=404) from None
    except ConflictError as exc:  # stale: the item as it is now, with who decided what and when
        return await _item_page(request, ctx, session, item_id, error=str(exc), status=409)
    return redirect(f"/review/items/{item_id}?done=decided")


@router.post("/{item_id}/forwards", response_class=HTMLResponse)
async def forward(
    request: Request,
    item_id: str = ItemId,
    to: str = Form("", max_length=100),
    note: str = Form("", max_length=500),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    try:
        if not to.strip():
            raise ConflictError("请填写报送对象（如 市委办）/ name whom it was sent to")
        now = ctx.clock.now()
        async with ctx.engine.begin() as conn:
            await items.forward(
                conn, item_id, to.strip(), note.strip() or None, who(session), ctx.policy.tz, now
            )
            await logged(conn, session, now, "item_forwarded", item_id, to=to.strip())
    except NotFound as exc:
        raise PageRefused(str(exc), status=404) from None
    except ConflictError as exc:
        return await _item_page(request, ctx, session, item_id, error=str(exc), status=409)
    return redirect(f"/review/items/{item_id}?done=forwarded")
