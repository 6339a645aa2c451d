"""The accountability log for auditors: list, totals, exports, one entry's evidence, reviews, and
verification of the hash chain."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from alerting.accountability.verify import verify_chain
from alerting.api.auth import require
from alerting.api.schemas import EntryOut, Problem, invalid
from alerting.audit import export_stream, exports, queries, reviews, tallies
from alerting.domain import EntryKind, EntryStatus, Level, ReviewDecision, Role
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.tokens import Principal
from consumers.codec import IsoTime

router = APIRouter(prefix="/api/v1/accountability", tags=["accountability"])
auditors = require(Role.AUDITOR, Role.INFO_SECTION)


class EntryFilters(BaseModel):
    """Filters shared by the list, the totals and the exports."""

    township: str | None = Field(default=None, max_length=64)
    kind: EntryKind | None = None
    status: EntryStatus | None = None
    level: Level | None = None
    since: IsoTime | None = Field(default=None, description="occurred at or after (ISO 8601)")
    until: IsoTime | None = Field(default=None, description="occurred before")


def _query(f: EntryFilters, ctx: ServiceContext) -> queries.EntryQuery:
    if f.since and f.until and f.since >= f.until:
        raise invalid("query", "until", "since must be before until")
    return queries.EntryQuery(
        township=f.township,
        kind=f.kind.value if f.kind else None,
        status=f.status,
        level=f.level.value if f.level else None,
        since=f.since,
        until=f.until,
        auto_confirm=frozenset(ctx.policy.scoring.auto_confirm),
    )


Filters = Annotated[EntryFilters, Query()]


class AuditedEntry(EntryOut):
    status: EntryStatus | None  # None: a review or checkpoint, opened by id (never reviewed itself)
    finding: str | None
    latest_review_id: int | None
    level: str | None
    incident_title: str | None


class EntryPage(BaseModel):
    entries: list[AuditedEntry]
    next_cursor: str | None


class Totals(BaseModel):
    total: int
    by_township: dict[str, int]
    by_kind: dict[str, int]


class EntryDetail(AuditedEntry):
    evidence: dict[str, Any]
    reviews: list[EntryOut]


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: ReviewDecision
    reason: str = Field(min_length=2, max_length=2000, description="理由 (required)")
    to: Literal["concealment", "false_report", "late_report", "missing_report"] | None = Field(
        default=None, description="the finding, for a reclassification (瞒报 concealment, 谎报 false_report)"
    )


class ChainOut(BaseModel):
    entries_checked: int
    intact: bool
    broken_at: int | None
    problem: str | None
    expected: str | None
    found: str | None
    last_hash: str | None
    scope: Literal["full", "since_checkpoint"]
    checkpoint: int | None = Field(
        description="the checkpoint entry the run went on from (null: from the start)"
    )
    verified_through: int | None = Field(description="intact: the id of the newest entry verified")


@router.get("", response_model=EntryPage, summary="问责记录 / accountability entries")
async def list_entries(
    filters: Filters,
    sort: Literal["id", "occurred_at"] = "id",
    order: Literal["asc", "desc"] = "asc",
    cursor: str | None = Query(default=None, max_length=200, description="next_cursor of the previous page"),
    limit: int = Query(default=100, ge=1, le=1000),
    _: Principal = Depends(auditors),
    ctx: ServiceContext = Depends(get_context),
) -> EntryPage:
    async with reading(ctx.engine) as conn:
        try:
            page = await queries.list_entries(
                conn, _query(filters, ctx), sort=sort, descending=order == "desc", cursor=cursor, limit=limit
            )
        except ValueError as exc:
            raise invalid("query", "cursor", str(exc)) from None
    shown = [AuditedEntry.model_validate(e) for e in page.entries]
    return EntryPage(entries=shown, next_cursor=page.next_cursor)


@router.get("/totals", response_model=Totals, summary="按乡镇、类型汇总 / totals per township and kind")
async def totals(
    filters: Filters, _: Principal = Depends(auditors), ctx: ServiceContext = Depends(get_context)
) -> Totals:
    async with reading(ctx.engine) as conn:
        return Totals.model_validate(await tallies.totals(conn, _query(filters, ctx)))


@router.get(
    "/export",
    summary="导出 / export the same query as CSV or XLSX",
    responses={200: {"content": {"text/csv": {}, exports.XLSX_MEDIA_TYPE: {}}}},
)
async def export(
    filters: Filters,
    format: Literal["csv", "xlsx"] = "csv",
    _: Principal = Depends(auditors),
    ctx: ServiceContext = Depends(get_context),
) -> StreamingResponse:
    """Streamed a batch at a time (export_stream): the service's memory holds a batch, not the
    export, and other requests are answered meanwhile."""
    query = _query(filters, ctx)  # a bad filter is answered 422 before anything is sent
    stamp = ctx.clock.now().astimezone(ctx.policy.tz).strftime("%Y%m%d-%H%M")
    body = export_stream.export_from(ctx.engine, query, ctx.policy.tz, format)
    headers = {"Content-Disposition": f'attachment; filename="accountability-{stamp}.{format}"'}
    return StreamingResponse(body, media_type=export_stream.MEDIA_TYPES[format], headers=headers)


@router.get("/verify", response_model=ChainOut, summary="校验哈希链 / verify the hash chain")
async def verify(
    since_checkpoint: bool = Query(
        default=False,
        description="go on from the latest checkpoint (a full run when there is none); nothing is written",
    ),
    _: Principal = Depends(auditors),
    ctx: ServiceContext = Depends(get_context),
) -> ChainOut:
    """Reads only: checkpoints are recorded by `alerting audit verify` and the service's own runs."""
    async with reading(ctx.engine) as conn:
        report = await verify_chain(conn, since_checkpoint=since_checkpoint)
    return ChainOut.model_validate(asdict(report))


@router.get(
    "/{entry_id}",
    response_model=EntryDetail,
    responses={404: {"model": Problem}},
    summary="问责记录详情 / one entry with its evidence and reviews",
)
async def get_entry(
    entry_id: int = Path(ge=1, le=2**63 - 1),
    _: Principal = Depends(auditors),
    ctx: ServiceContext = Depends(get_context),
) -> EntryDetail:
    async with reading(ctx.engine) as conn:
        detail = await queries.entry_detail(conn, entry_id, frozenset(ctx.policy.scoring.auto_confirm))
    return EntryDetail.model_validate(detail)


@router.post(
    "/{entry_id}/review",
    status_code=201,
    response_model=EntryDetail,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="审核 / confirm, waive (免责) or reclassify an entry, with a reason (auditors, 信息科)",
)
async def review_entry(
    body: ReviewBody,
    entry_id: int = Path(ge=1, le=2**63 - 1),
    principal: Principal = Depends(auditors),
    ctx: ServiceContext = Depends(get_context),
) -> EntryDetail:
    decision = reviews.Review(body.decision, body.reason, body.to)
    async with ctx.engine.begin() as conn:
        await reviews.review(conn, entry_id, decision, principal.name, ctx.clock.now(), role=principal.role)
        detail = await queries.entry_detail(conn, entry_id, frozenset(ctx.policy.scoring.auto_confirm))
    return EntryDetail.model_validate(detail)
