"""/api/v1/board (值班看板) and /api/v1/todo (我的待办): what the duty officers watch and what a
township owes, as the pages will show them."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from alerting.api.auth import require
from alerting.api.schemas import Problem, invalid
from alerting.county import board as boards
from alerting.county import directory
from alerting.domain import Role
from alerting.http import conditional
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.tokens import Principal

router = APIRouter(prefix="/api/v1", tags=["board"])


@router.get(
    "/board",
    response_class=Response,
    responses={304: {"description": "未变化 / unchanged since the ETag given in If-None-Match"}},
    summary="值班看板 / open incidents, their stage and next deadline, who is on duty",
)
async def board(
    request: Request,
    chip: boards.Chip | None = Query(
        default=None, description="待签收 unacknowledged | 处置中 handling | ..."
    ),
    township: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=1_000_000),
    _: Principal = Depends(require(Role.DUTY_OFFICER, Role.INFO_SECTION, Role.AUDITOR)),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    now = ctx.clock.now()
    async with reading(ctx.engine) as conn:
        found = await boards.cached_board(conn, now, chip=chip, township=township, limit=limit, offset=offset)
        found["on_duty"] = (await directory.on_duty(conn, ctx.policy, now, None, present=True))["holders"]
    tag = conditional.entity_tag(found.pop("version"), found["on_duty"])
    if conditional.fresh(request, tag):  # polled every few seconds: most refreshes change nothing
        return conditional.not_modified(tag)
    # Encoded by orjson at once: FastAPI's generic encoder walks a thousand rows field by field, and
    # the board is refreshed by every duty officer every few seconds.
    return conditional.tagged(Response(orjson.dumps(found), media_type="application/json"), tag)


@router.get(
    "/todo",
    responses={403: {"model": Problem}},
    summary="我的待办 / everything a township owes, overdue first (a township: its own)",
)
async def todo(
    township: str | None = Query(default=None, max_length=64),
    principal: Principal = Depends(
        require(Role.TOWNSHIP, Role.DUTY_OFFICER, Role.INFO_SECTION, Role.AUDITOR)
    ),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    if principal.role is Role.TOWNSHIP:
        if township not in (None, principal.township):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"本令牌只能查看{principal.township} / own township only"
            )
        township = principal.township
    if township is None:
        raise invalid("query", "township", "请指定乡镇 / give the township")
    if not ctx.policy.in_directory(township):
        raise invalid("query", "township", f"{township} 不在乡镇名录中 / not in the township directory")
    async with reading(ctx.engine) as conn:
        return await boards.todo(conn, township, ctx.clock.now())
