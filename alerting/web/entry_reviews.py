"""问责审核: entries awaiting review (by default pending ones of the current quarter), reviewed one at
a time or several with one reason: confirm, waive (免责) or reclassify, each in the reviewer's name.

The information section and the auditors review (as in the API); each review records the reviewer's
name and role. Each form carries the latest review the reviewer saw: if another was written since, nothing is
recorded and the page says who decided what and when."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.append import lock_chain
from alerting.accounts.sessions import Session
from alerting.audit import queries, reviews
from alerting.domain import ReviewDecision, Role
from alerting.errors import ConflictError, NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.entries import entry_response
from alerting.web.entry_query import DECISION_ZH, EntryFilters, entry_query, page_values, read_filters
from alerting.web.listing import link, logged, who
from alerting.web.session import PageRefused, acting, allow, redirect, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/review/entries", include_in_schema=False)
PAGE = 50
REVIEWERS = (Role.AUDITOR, Role.INFO_SECTION)


def _pending_by_default(filters: EntryFilters, explicit: bool) -> EntryFilters:
    if explicit:
        return filters
    return EntryFilters(filters.township, filters.kind, "pending", filters.level, filters.period)


async def _queue(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    filters: EntryFilters,
    *,
    cursor: str = "",
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    query, shown = entry_query(filters, ctx)
    async with reading(ctx.engine) as conn:
        try:
            found = await queries.list_entries(conn, query, cursor=cursor or None, limit=PAGE)
        except ValueError:
            cursor = ""
            found = await queries.list_entries(conn, query, limit=PAGE)
    current = shown.as_dict() | {"status": shown.status or "all"}
    values: dict[str, Any] = {
        "session": session,
        "rows": found.entries,
        "notice": notice,
        "error": error,
        "here": link("/review/entries", current),
        "first": link("/review/entries", current) if cursor else None,
        "following": link("/review/entries", current, cursor=found.next_cursor)
        if found.next_cursor
        else None,
        "may_review": session.account.role in reviews.REVIEWERS,
        **page_values(ctx, shown, ctx.clock.now()),
    }
    values["filters"]["status"] = shown.status or "all"
    return render(request, ctx, "review_entries.html", values, status=status)


@router.get("", response_class=HTMLResponse)
async def queue(
    request: Request,
    filters: EntryFilters = Depends(read_filters),
    cursor: str = "",
    done: int = 0,
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.AUDITOR, Role.INFO_SECTION)
    filters = _pending_by_default(filters, "status" in request.query_params)
    notice = f"已审核 {done} 条问责记录。" if done > 0 else ""
    return await _queue(request, ctx, session, filters, cursor=cursor[:200], notice=notice)


def _choice(decision: str, reason: str, to: str) -> reviews.Review:
    if decision not in DECISION_ZH:
        raise ConflictError("请选择审核结果（确认、免责或改定性）/ choose confirm, waive or reclassify")
    if len(reason.strip()) < 2:
        raise ConflictError("审核须写明理由（至少 2 个字）/ a review needs a reason (2 characters or more)")
    kind = ReviewDecision(decision)
    return reviews.Review(kind, reason.strip(), (to or None) if kind is ReviewDecision.RECLASSIFY else None)


def _targets(picked: list[str]) -> list[tuple[int, int]]:
    """Checkbox values "entry id:latest review id seen" (0: none seen)."""
    found: list[tuple[int, int]] = []
    for value in picked:
        entry, _, seen = value.partition(":")
        if not (entry.isdigit() and seen.isdigit()) or len(entry) > 18 or len(seen) > 18:
            raise ConflictError("所选记录无效 / an entry chosen is not valid")
        found.append((int(entry), int(seen)))
    if not found:
        raise ConflictError("请至少选择一条问责记录 / choose at least one entry")
    if len(found) > PAGE:
        raise ConflictError(f"一次最多审核 {PAGE} 条 / at most {PAGE} entries at once")
    return found


async def _review_one(
    conn: AsyncConnection,
    ctx: ServiceContext,
    entry_id: int,
    seen: int,
    choice: reviews.Review,
    session: Session,
) -> None:
    auto = frozenset(ctx.policy.scoring.auto_confirm)
    await lock_chain(conn)  # a concurrent review cannot slip between the check and the write
    entry = await queries.entry_detail(conn, entry_id, auto)
    latest = entry["latest_review_id"] or 0
    if latest != seen:
        last = entry["reviews"][-1]
        at = last["recorded_at"].astimezone(ctx.policy.tz).strftime("%Y-%m-%d %H:%M")
        decided = DECISION_ZH.get(last["details"].get("decision", ""), "审核")
        raise ConflictError(
            f"问责记录 {entry_id} 已由 {last['responsible']} 于 {at} {decided}，请查看后再审核 / entry "
            f"{entry_id} was reviewed ({last['details'].get('decision')}) by {last['responsible']} at "
            f"{last['recorded_at'].isoformat()}; nothing was recorded"
        )
    try:
        await reviews.review(conn, entry_id, choice, who(session), ctx.clock.now(), role=session.account.role)
    except ConflictError as exc:
        raise ConflictError(f"问责记录 {entry_id}：{exc}") from None


async def _apply(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    targets: list[tuple[int, int]],
    choice: reviews.Review,
    back: str,
) -> Response:
    """All the chosen entries in one transaction: one refused, none recorded (and the page says why)."""
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        for entry_id, seen in targets:
            await _review_one(conn, ctx, entry_id, seen, choice, session)
            details: dict[str, Any] = {"decision": choice.decision.value, "reason": choice.reason}
            if choice.to:
                details["to"] = choice.to
            await logged(conn, session, now, "entry_reviewed", str(entry_id), **details)
    # Back to where the form was (only these pages: never an address from elsewhere).
    if not back.startswith(("/review/entries", "/entries/")):
        back = "/review/entries"
    return redirect(f"{back}{'&' if '?' in back else '?'}done={len(targets)}")


@router.post("", response_class=HTMLResponse)
async def review_many(
    request: Request,
    entry: Annotated[list[str], Form()] = [],  # noqa: B006  # FastAPI copies defaults
    decision: str = Form("", max_length=16),
    reason: str = Form("", max_length=2000),
    to: str = Form("", max_length=32),
    back: str = Form("", max_length=1000),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    """One decision and one reason for every entry ticked (or the single entry of a row's form)."""
    allow(session, *REVIEWERS)
    await signed_in(session)
    filters = _filters_of(back)
    try:
        targets, choice = _targets(entry), _choice(decision, reason, to)
    except ConflictError as exc:  # incomplete: the queue again with what is missing
        return await _queue(request, ctx, session, filters, error=str(exc), status=400)
    try:
        return await _apply(request, ctx, session, targets, choice, back)
    except NotFound as exc:
        raise PageRefused(str(exc), status=404) from None
    except ConflictError as exc:  # stale or not allowed: nothing recorded, the queue refreshed
        return await _queue(request, ctx, session, filters, error=str(exc), status=409)


def _filters_of(back: str) -> EntryFilters:
    """The queue's filters from the address it was posted from (to show the same queue again)."""
    query = parse_qs(urlsplit(back).query)

    def get(name: str) -> str:
        return (query.get(name) or [""])[0][:64]

    return read_filters(get("township"), get("kind"), get("status"), get("level"), get("period"))


@router.post("/{entry_id}", response_class=HTMLResponse)
async def review_one(
    request: Request,
    entry_id: int = Path(ge=1, le=2**63 - 1),
    seen: int = Form(0, ge=0, le=2**63 - 1),
    decision: str = Form("", max_length=16),
    reason: str = Form("", max_length=2000),
    to: str = Form("", max_length=32),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    """From an entry's page (问责记录详情): the same review, then back to that page."""
    allow(session, *REVIEWERS)
    await signed_in(session)
    try:
        choice = _choice(decision, reason, to)
    except ConflictError as exc:
        return await entry_response(request, ctx, session, entry_id, error=str(exc), status=400)
    try:
        return await _apply(request, ctx, session, [(entry_id, seen)], choice, f"/entries/{entry_id}")
    except NotFound:
        raise PageRefused(f"未找到问责记录 {entry_id} / no entry {entry_id}", status=404) from None
    except ConflictError as exc:
        return await entry_response(request, ctx, session, entry_id, error=str(exc), status=409)
