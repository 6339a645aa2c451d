"""问责记录: the accountability entries for auditors and the information section, with the filters
in the URL (default the current quarter), each entry's evidence, export of exactly the filtered
rows through the auditors' streamed exports, and verification of the hash chain (链校验)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from alerting.accountability.verify import problem_zh, verify_chain
from alerting.accounts.sessions import Session
from alerting.audit import export_stream, queries, reviews, tallies
from alerting.domain import BOOKKEEPING_KINDS, Role
from alerting.errors import NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.entry_query import EntryFilters, entry_query, page_values, read_filters
from alerting.web.listing import link, logged
from alerting.web.session import PageRefused, acting, allow, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/entries", include_in_schema=False)
READERS = (Role.AUDITOR, Role.INFO_SECTION)
PAGE = 50


@router.get("", response_class=HTMLResponse)
async def list_page(
    request: Request,
    filters: EntryFilters = Depends(read_filters),
    cursor: str = Query("", max_length=200),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, *READERS)
    query, shown = entry_query(filters, ctx)
    async with reading(ctx.engine) as conn:
        try:
            found = await queries.list_entries(conn, query, cursor=cursor or None, limit=PAGE)
        except ValueError:  # a cursor from elsewhere: the first page
            cursor = ""
            found = await queries.list_entries(conn, query, limit=PAGE)
        total = await tallies.count(conn, query)
    current = shown.as_dict()
    values: dict[str, Any] = {
        "session": session,
        "rows": found.entries,
        "total": total,
        "first": link("/entries", current) if cursor else None,
        "following": link("/entries", current, cursor=found.next_cursor) if found.next_cursor else None,
        "csv": link("/entries/export", current, format="csv"),
        "xlsx": link("/entries/export", current, format="xlsx"),
        **page_values(ctx, shown, ctx.clock.now()),
    }
    return render(request, ctx, "entries.html", values)


@router.get("/export")
async def export(
    filters: EntryFilters = Depends(read_filters),
    format: Literal["csv", "xlsx"] = Query("csv"),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> StreamingResponse:
    """The rows of the list's filters, streamed a batch at a time as the API's export does."""
    allow(session, *READERS)
    query, shown = entry_query(filters, ctx)
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:  # who exported what: written before the first byte
        await logged(conn, session, now, "entries_exported", format, **shown.as_dict())

    stamp = now.astimezone(ctx.policy.tz).strftime("%Y%m%d-%H%M")
    body = export_stream.export_from(ctx.engine, query, ctx.policy.tz, format)
    headers = {
        "Content-Disposition": f'attachment; filename="accountability-{stamp}.{format}"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(body, media_type=export_stream.MEDIA_TYPES[format], headers=headers)


@router.get("/verify", response_class=HTMLResponse)
async def verify_page(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    allow(session, *READERS)
    values = {"session": session, "report": None}
    return render(request, ctx, "verify.html", values)


@router.post("/verify", response_class=HTMLResponse)
async def verify(
    request: Request,
    scope: Literal["full", "since_checkpoint"] = Form("full"),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    """Reads only, as the API does: checkpoints come from `alerting audit verify` and the service."""
    allow(session, *READERS)
    await signed_in(session)
    async with reading(ctx.engine) as conn:
        report = await verify_chain(conn, since_checkpoint=scope == "since_checkpoint")
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        await logged(
            conn,
            session,
            now,
            "chain_verified",
            "",
            intact=report.intact,
            checked=report.entries_checked,
            scope=report.scope,
        )
    values = {"session": session, "report": report, "checked_at": now, "problem_zh": problem_zh}
    return render(request, ctx, "verify.html", values)


async def entry_response(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    entry_id: int,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    """One entry's evidence and reviews (also shown again, refreshed, when a review of it is refused)."""
    async with reading(ctx.engine) as conn:
        try:
            entry = await queries.entry_detail(conn, entry_id, frozenset(ctx.policy.scoring.auto_confirm))
        except NotFound:
            raise PageRefused(f"未找到问责记录 {entry_id} / no entry {entry_id}", status=404) from None
    _, shown = entry_query(EntryFilters("", "", "", "", ""), ctx)
    values: dict[str, Any] = {
        "session": session,
        "entry": entry,
        "evidence": entry["evidence"],
        "may_review": session.account.role in reviews.REVIEWERS,
        "bookkeeping": entry["kind"] in BOOKKEEPING_KINDS,  # a review or a checkpoint: not reviewed
        "notice": notice,
        "error": error,
        **page_values(ctx, shown, ctx.clock.now()),
    }
    return render(request, ctx, "entry.html", values, status=status)


@router.get("/{entry_id}", response_class=HTMLResponse)
async def entry_page(
    request: Request,
    entry_id: int = Path(ge=1, le=2**63 - 1),
    done: int = Query(0, ge=0, le=1000),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, *READERS)
    notice = "审核结果已记录。" if done else ""
    return await entry_response(request, ctx, session, entry_id, notice=notice)
