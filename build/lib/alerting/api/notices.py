"""/api/v1/notices: the information section's notices (通报工作动态、报送要点) and who has read them; a
township lists those sent to it and marks one read (签收)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from alerting.api.auth import require
from alerting.api.schemas import Problem
from alerting.county import notices
from alerting.domain import NoticeKind, Role
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.tokens import Principal

router = APIRouter(prefix="/api/v1/notices", tags=["notices"])
readers = require(Role.TOWNSHIP, Role.INFO_SECTION, Role.AUDITOR, Role.DUTY_OFFICER)
NoticeId = Path(min_length=1, max_length=64)


class NoticeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: NoticeKind = Field(description="work_update 通报工作动态 | reporting_points 报送要点")
    title: str = Field(min_length=1, max_length=200, description="标题")
    body: str = Field(min_length=1, max_length=20000, description="正文")
    townships: tuple[str, ...] = Field(default=(), max_length=500, description="乡镇; empty: all of them")


def _not_sent_to(township: str | None, notice_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_403_FORBIDDEN,
        f"通报 {notice_id} 未发给{township} / notice {notice_id} was not sent to {township}",
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={403: {"model": Problem}},
    summary="发通报 / send a notice to some or all townships",
)
async def send(
    body: NoticeBody,
    principal: Principal = Depends(require(Role.INFO_SECTION)),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    new = notices.NewNotice(body.kind, body.title, body.body, body.townships)
    async with ctx.engine.begin() as conn:
        return await notices.send(conn, new, ctx.policy, principal.name, ctx.clock.now())


@router.get("", summary="通报列表 / notices, newest first (a township: those sent to it, read or not)")
async def list_all(
    kind: NoticeKind | None = Query(default=None),
    township: str | None = Query(default=None, max_length=64, description="only those sent to it"),
    unread: bool = Query(default=False, description="a township: only those it has not read"),
    limit: int = Query(default=100, ge=1, le=500),
    principal: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> list[dict[str, Any]]:
    async with reading(ctx.engine) as conn:
        if principal.role is Role.TOWNSHIP:
            assert principal.township is not None
            return await notices.list_for_township(conn, principal.township, kind, unread, limit)
        return await notices.list_sent(conn, kind, township, limit)


@router.get(
    "/{notice_id}",
    responses={403: {"model": Problem}, 404: {"model": Problem}},
    summary="一条通报 / one notice: the county sees every township's read; a township its own",
)
async def get_one(
    notice_id: str = NoticeId,
    principal: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    async with reading(ctx.engine) as conn:
        if principal.role is not Role.TOWNSHIP:
            return await notices.get(conn, notice_id)
        assert principal.township is not None
        own = await notices.read_of(conn, notice_id, principal.township)
    if own is None:
        raise _not_sent_to(principal.township, notice_id)
    return own


@router.post(
    "/{notice_id}/read",
    responses={403: {"model": Problem}, 404: {"model": Problem}},
    summary="签收 / a township marks a notice read (again: the first read is kept)",
)
async def mark_read(
    notice_id: str = NoticeId,
    principal: Principal = Depends(require(Role.TOWNSHIP)),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    if principal.township is None:  # admin: it reads for no township
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "只有乡镇令牌可以签收 / only a township token marks a notice read"
        )
    async with ctx.engine.begin() as conn:
        found = await notices.mark_read(conn, notice_id, principal.township, principal.name, ctx.clock.now())
    if found is None:
        raise _not_sent_to(principal.township, notice_id)
    return found
