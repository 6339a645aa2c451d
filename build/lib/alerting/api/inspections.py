"""/api/v1/inspections: the information section's inspections of the townships' information networks
(信息网络建设检查, 六有), kept as a history; a township sees its own."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from alerting.api.auth import require
from alerting.api.schemas import Problem, invalid
from alerting.county import inspections
from alerting.domain import Role
from alerting.errors import ConflictError
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.tokens import Principal

router = APIRouter(prefix="/api/v1/inspections", tags=["inspections"])
readers = require(Role.TOWNSHIP, Role.INFO_SECTION, Role.AUDITOR, Role.DUTY_OFFICER)


class Findings(BaseModel):
    """All six conditions, each met (true) or not (false)."""

    model_config = ConfigDict(extra="forbid")

    office: StrictBool = Field(description="有办公场所")
    funding: StrictBool = Field(description="有必要经费")
    equipment: StrictBool = Field(description="有设施设备")
    publications: StrictBool = Field(description="有相关刊物")
    leader: StrictBool = Field(description="有分管领导")
    staff: StrictBool = Field(description="有专兼职信息人员")


class InspectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    township: str = Field(min_length=1, max_length=64)
    inspected_on: date = Field(description="检查日期")
    inspectors: tuple[str, ...] = Field(min_length=1, max_length=20, description="检查人")
    findings: Findings
    note: str = Field(default="", max_length=5000, description="检查意见")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={403: {"model": Problem}},
    summary="记录检查 / record an inspection of a township's information network (六有)",
)
async def record(
    body: InspectionBody,
    principal: Principal = Depends(require(Role.INFO_SECTION)),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    names = tuple(name.strip() for name in body.inspectors)
    if not all(0 < len(name) <= 100 for name in names):
        raise invalid(
            "body", "inspectors", "检查人姓名不能为空或过长 / each inspector's name: 1-100 characters"
        )
    inspection = inspections.Inspection(
        body.township,
        body.inspected_on,
        names,
        inspections.Conditions(**body.findings.model_dump()),
        body.note,
    )
    try:
        async with ctx.engine.begin() as conn:
            return await inspections.record(conn, inspection, ctx.policy, principal.name, ctx.clock.now())
    except ConflictError as exc:
        raise invalid("body", "inspected_on", str(exc)) from None


def _own(principal: Principal, township: str | None) -> str | None:
    if principal.role is not Role.TOWNSHIP:
        return township
    if township not in (None, principal.township):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"本令牌只能查看{principal.township} / own township only"
        )
    return principal.township


@router.get(
    "",
    responses={403: {"model": Problem}},
    summary="检查记录 / inspections, latest first (a township: its own)",
)
async def history(
    township: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=500),
    principal: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> list[dict[str, Any]]:
    township = _own(principal, township)
    async with reading(ctx.engine) as conn:
        return await inspections.history(conn, township, limit)


@router.get(
    "/latest",
    responses={403: {"model": Problem}},
    summary="各乡镇最近一次检查 / each township's latest inspection (on or before a day)",
)
async def latest(
    on: date | None = Query(default=None, description="the latest on or before this day"),
    principal: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> list[dict[str, Any]]:
    township = _own(principal, None)
    async with reading(ctx.engine) as conn:
        found = await inspections.latest(conn, on)
    return [i for i in found if township is None or i["township"] == township]
