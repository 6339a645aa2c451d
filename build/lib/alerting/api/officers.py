"""/api/v1/officers: the register of township information officers (信息员队伍)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from alerting.api.auth import require
from alerting.api.schemas import Problem, invalid
from alerting.county import officers
from alerting.domain import Role
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.tokens import Principal

router = APIRouter(prefix="/api/v1/officers", tags=["officers"])
keepers = require(Role.INFO_SECTION)


class TermBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    township: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100, description="姓名")
    phone: str = Field(
        min_length=officers.PHONE_LENGTH[0],
        max_length=officers.PHONE_LENGTH[1],
        pattern=officers.PHONE_PATTERN,
    )
    employment: Literal["full_time", "part_time"] = Field(description="专职 full_time | 兼职 part_time")
    starts_on: date = Field(description="任期开始")
    ends_on: date | None = Field(default=None, description="任期最后一天; absent: until further notice")
    note: str = Field(default="", max_length=500, description="备案说明")


class EndBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ends_on: date = Field(description="任期最后一天")
    note: str = Field(default="", max_length=500)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={403: {"model": Problem}, 409: {"model": Problem}},
    summary="备案 / register an officer's term",
)
async def register(
    body: TermBody, principal: Principal = Depends(keepers), ctx: ServiceContext = Depends(get_context)
) -> dict[str, Any]:
    if body.ends_on is not None and body.ends_on < body.starts_on:
        raise invalid("body", "ends_on", "任期结束日早于开始日 / the term ends before it starts")
    term = officers.Term(body.township, body.name, body.phone, body.employment, body.starts_on, body.ends_on)
    async with ctx.engine.begin() as conn:
        found = await officers.register(conn, term, ctx.policy, principal.name, body.note, ctx.clock.now())
    ctx.on_armed(ctx.clock.now())  # a vacancy may be due already (a late registration)
    return found


@router.post(
    "/{officer_id}/end",
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="备案离任 / register the last day of a term",
)
async def end(
    body: EndBody,
    officer_id: int = Path(ge=1, le=2**63 - 1),
    principal: Principal = Depends(keepers),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        found = await officers.end_term(
            conn, officer_id, body.ends_on, ctx.policy, principal.name, body.note, now
        )
    ctx.on_armed(now)
    return found


@router.get("", summary="信息员名册 / the register (a township: its own)")
async def register_of(
    township: str | None = Query(default=None, max_length=64),
    active_on: date | None = Query(default=None, description="only terms covering this day"),
    principal: Principal = Depends(
        require(Role.TOWNSHIP, Role.INFO_SECTION, Role.AUDITOR, Role.DUTY_OFFICER)
    ),
    ctx: ServiceContext = Depends(get_context),
) -> list[dict[str, Any]]:
    if principal.role is Role.TOWNSHIP:
        if township not in (None, principal.township):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"本令牌只能查看{principal.township} / own township only"
            )
        township = principal.township
    async with reading(ctx.engine) as conn:
        return await officers.register_of(conn, township, active_on)


@router.get("/{officer_id}", responses={404: {"model": Problem}}, summary="one term with its changes")
async def get_one(
    officer_id: int = Path(ge=1, le=2**63 - 1),
    _: Principal = Depends(require(Role.INFO_SECTION, Role.AUDITOR, Role.DUTY_OFFICER)),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    async with reading(ctx.engine) as conn:
        return await officers.get(conn, officer_id)
