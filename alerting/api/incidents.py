"""Incidents: list, full record, registration of incidents learned elsewhere, and the county's
actions on them: acknowledge (签收), close (响应结束), forward to the city (上报), re-grade (调整等级)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query

from alerting.api.auth import require
from alerting.api.schemas import (
    AckOut,
    CloseOut,
    ForwardBody,
    ForwardOut,
    IncidentDetail,
    IncidentOut,
    Problem,
    RegisterBody,
    Registered,
    RegradeBody,
    RegradeOut,
    invalid,
    invalid_all,
)
from alerting.county import actions, queries
from alerting.domain import Role
from alerting.errors import NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.tokens import Principal

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
IncidentId = Path(min_length=1, max_length=64)
readers = require(Role.DUTY_OFFICER, Role.INFO_SECTION, Role.AUDITOR, Role.TOWNSHIP)
county = require(Role.DUTY_OFFICER, Role.INFO_SECTION)


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
    async with reading(ctx.engine) as conn:
        rows = await queries.list_incidents(conn, status=status, township=township, limit=limit)
    return [IncidentOut.model_validate(r) for r in rows]


@router.post(
    "",
    status_code=201,
    response_model=Registered,
    responses={409: {"model": Problem}},
    summary="登记其他渠道获悉的事件 / register an incident learned from another channel",
)
async def register_incident(
    body: RegisterBody,
    principal: Principal = Depends(county),
    ctx: ServiceContext = Depends(get_context),
) -> Registered:
    now = ctx.clock.now()
    if refused := body.refusals(ctx.policy, now):
        raise invalid_all("body", refused)
    registration = body.registration(f"C-{uuid.uuid4().hex[:12]}", now)
    async with ctx.engine.begin() as conn:
        due = await actions.register(conn, registration, principal.name, ctx.policy, now)
    ctx.on_armed(due)
    return Registered(incident_id=registration.incident_id, township_report_due=due)


@router.get(
    "/{incident_id}",
    response_model=IncidentDetail,
    responses={404: {"model": Problem}},
    summary="事件详情 / an incident with its reports, deadlines, escalations, entries and timeline",
)
async def get_incident(
    incident_id: str = IncidentId,
    principal: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> IncidentDetail:
    async with reading(ctx.engine) as conn:
        detail = await queries.incident_detail(conn, incident_id, ctx.policy.tz)
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


@router.post(
    "/{incident_id}/close",
    response_model=CloseOut,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="应急响应结束 / the response ended: follow-ups stop, the final report becomes due",
)
async def close(
    incident_id: str = IncidentId,
    principal: Principal = Depends(county),
    ctx: ServiceContext = Depends(get_context),
) -> CloseOut:
    async with ctx.engine.begin() as conn:
        due = await actions.close(conn, incident_id, principal.name, ctx.policy, ctx.clock.now())
    ctx.on_armed(due)
    return CloseOut(incident_id=incident_id, final_report_due=due)


@router.post(
    "/{incident_id}/forward",
    response_model=ForwardOut,
    responses={404: {"model": Problem}},
    summary="上报市委办 / record the county's report to the city",
)
async def forward(
    body: ForwardBody,
    incident_id: str = IncidentId,
    principal: Principal = Depends(require(Role.DUTY_OFFICER)),
    ctx: ServiceContext = Depends(get_context),
) -> ForwardOut:
    async with ctx.engine.begin() as conn:
        settled = await actions.forward(
            conn, incident_id, body.mode, principal.name, body.note, ctx.clock.now()
        )
    late = max((s.late_seconds for s in settled if s.late_seconds is not None), default=None)
    return ForwardOut(incident_id=incident_id, mode=body.mode, late_by_seconds=late)


@router.post(
    "/{incident_id}/level",
    response_model=RegradeOut,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="调整等级 / re-grade an incident, with a reason: a lighter level relaxes its clocks",
)
async def regrade(
    body: RegradeBody,
    incident_id: str = IncidentId,
    principal: Principal = Depends(county),
    ctx: ServiceContext = Depends(get_context),
) -> RegradeOut:
    reason = body.reason.strip()
    if len(reason) < 2:
        raise invalid("body", "reason", "请填写调整理由 / a re-grade needs a reason")
    async with ctx.engine.begin() as conn:
        change = await actions.regrade(
            conn, incident_id, body.level, reason, principal.name, ctx.policy, ctx.clock.now()
        )
    if change.earliest is not None:
        ctx.on_armed(change.earliest)
    return RegradeOut(incident_id=incident_id, level=body.level, deadlines=change.deadlines)
