"""Quarterly bulletins and year-end rankings: preview, publish, and read as JSON, HTML or XLSX;
and the information section's marking of adopted reports (采用)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from alerting.api.auth import require
from alerting.api.schemas import Problem, invalid
from alerting.audit import bulletins, exports
from alerting.audit.render import bulletin_html, bulletin_xlsx
from alerting.domain import Role
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.tokens import Principal

router = APIRouter(tags=["bulletins"])
readers = require(Role.AUDITOR, Role.INFO_SECTION)
PeriodKey = Path(pattern=r"^\d{4}(-Q[1-4])?$", description="2026-Q1 (quarter) or 2026 (year)")


class AdoptionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Literal["county", "city", "province", "national"]
    note: str = Field(default="", max_length=500)


class AdoptionOut(BaseModel):
    report_id: str
    township: str
    level: str
    adopted_at: datetime


class PublishedOut(BaseModel):
    kind: str
    period: str
    published_at: datetime
    published_by: str
    content_hash: str


@router.post(
    "/api/v1/reports/{report_id}/adoption",
    status_code=201,
    response_model=AdoptionOut,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="标记采用 / mark a report adopted by the county, city, province or higher",
)
async def adopt(
    body: AdoptionBody,
    report_id: str = Path(min_length=1, max_length=64),
    principal: Principal = Depends(require(Role.INFO_SECTION)),
    ctx: ServiceContext = Depends(get_context),
) -> AdoptionOut:
    async with ctx.engine.begin() as conn:
        now = ctx.clock.now()
        result = await bulletins.adopt(conn, report_id, body.level, principal.name, body.note, now)
    return AdoptionOut.model_validate(result)


@router.get(
    "/api/v1/bulletins", response_model=list[PublishedOut], summary="已发布通报 / published bulletins"
)
async def list_published(
    _: Principal = Depends(readers), ctx: ServiceContext = Depends(get_context)
) -> list[PublishedOut]:
    async with reading(ctx.engine) as conn:
        rows = await bulletins.list_published(conn)
    return [PublishedOut.model_validate(r) for r in rows]


@router.get(
    "/api/v1/bulletins/{period}",
    summary="通报 / the bulletin of a quarter or the ranking of a year (published, or a live draft)",
    responses={200: {"content": {"application/json": {}, "text/html": {}, exports.XLSX_MEDIA_TYPE: {}}}},
)
async def get_bulletin(
    period: str = PeriodKey,
    format: Literal["json", "html", "xlsx"] = Query(default="json"),
    _: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    kind, span = _period(period, ctx)
    async with reading(ctx.engine) as conn:
        stored = await bulletins.published(conn, kind, span.key)
        content: dict[str, Any] = (
            stored["content"]
            if stored
            else await bulletins.compute(conn, ctx.policy, kind, span, ctx.clock.now())
        )
    published_at = stored["published_at"] if stored else None
    if format == "html":
        return HTMLResponse(bulletin_html(content, published_at=published_at, tz=ctx.policy.tz))
    if format == "xlsx":
        filename = f"bulletin-{span.key}.xlsx"
        return Response(
            bulletin_xlsx(content, ctx.policy.tz),
            media_type=exports.XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    body = {
        "published": stored is not None,
        "published_at": published_at.isoformat() if published_at else None,
        "content_hash": stored["content_hash"] if stored else None,
        **content,
    }
    # orjson: a year's ranking at a province names tens of thousands of entries (json: ~1 s of it).
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), media_type="application/json")


@router.post(
    "/api/v1/bulletins/{period}/publish",
    status_code=201,
    response_model=PublishedOut,
    responses={409: {"model": Problem}},
    summary="发布通报 / publish (freeze) the bulletin of an ended period",
)
async def publish(
    period: str = PeriodKey,
    principal: Principal = Depends(require(Role.INFO_SECTION)),
    ctx: ServiceContext = Depends(get_context),
) -> PublishedOut:
    kind, span = _period(period, ctx)
    async with ctx.engine.begin() as conn:
        stored = await bulletins.publish(conn, ctx.policy, kind, span, principal.name, ctx.clock.now())
    return PublishedOut.model_validate(stored)


def _period(key: str, ctx: ServiceContext) -> tuple[bulletins.BulletinKind, Any]:
    try:
        return bulletins.parse_period(key, ctx.policy.tz)
    except ValueError as exc:
        raise invalid("path", "period", str(exc)) from None
