"""Incidents: list, full record, and the duty officer's acknowledgement (签收)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query

from alerting import actions, queries
from alerting.api.auth import require
from alerting.api.context import ServiceContext, get_context
from alerting.api.schemas import AckOut, IncidentDetail, IncidentOut, Problem
from alerting.domain import Role
from alerting.errors import NotFound
from alerting.tokens import Principal

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
IncidentId = Path(min_length=1, max_length=64)
readers = require(Role.DUTY_OFFICER, Role.AUDITOR, Role.TOWNSHIP)


@router.get("", response_model=list[IncidentOut], summary="事件列表 / list incidents")
async def list_incidents(
    status: Literal["open", "closed"] | None = None,
    township: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=1000),
    principal: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> list[IncidentOut]:
    if principal.role is Role.TOWNSHIP:
        township = principal.township  # a township sees its own incidents only
    async with ctx.engine.connect() as conn:
        rows = await queries.list_incidents(conn, status=status, township=township, limit=limit)
    return [IncidentOut.model_validate(r) for r in rows]


@router.get(
    "/{incident_id}",
    response_model=IncidentDetail,
    responses={404: {"model": Problem}},
    summary="事件详情 / an incident with its reports, deadlines, escalations and entries",
)
async def get_incident(
    incident_id: str = IncidentId,
    principal: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> IncidentDetail:
    async with ctx.engine.connect() as conn:
        detail = await queries.incident_detail(conn, incident_id)
    if principal.role is Role.TOWNSHIP and detail["township"] != principal.township:
        raise NotFound(f"incident {incident_id} not found")
    return IncidentDetail.model_validate(detail)


@router.post(
    "/{incident_id}/ack",
    response_model=AckOut,
    responses={404: {"model": Problem}},
    summary="签收 / acknowledge: stops the acknowledgement escalation",
)
async def acknowledge(
    incident_id: str = IncidentId,
    principal: Principal = Depends(require(Role.DUTY_OFFICER)),
    ctx: ServiceContext = Depends(get_context),
) -> AckOut:
    async with ctx.engine.begin() as conn:
        result = await actions.acknowledge(conn, incident_id, principal.name, ctx.clock.now())
    return AckOut(
        incident_id=result.incident_id,
        acknowledged_at=result.acknowledged_at,
        acknowledged_by=result.acknowledged_by,
        already_acknowledged=result.already,
    )
