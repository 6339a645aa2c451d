"""POST /api/v1/reports: a township submits a report; 202 once Kafka holds it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Depends, HTTPException, status

from alerting.api.auth import require
from alerting.api.schemas import Problem, ReportAccepted, invalid
from alerting.domain import Role
from alerting.http.context import ServiceContext, get_context
from alerting.tokens import Principal
from consumers.codec import ReportBody, ReportMessage

router = APIRouter(prefix="/api/v1", tags=["reports"])
CLOCK_SKEW = timedelta(minutes=2)  # townships' clocks run a little ahead of the county's


@router.post(
    "/reports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReportAccepted,
    responses={401: {"model": Problem}, 403: {"model": Problem}, 503: {"model": Problem}},
    summary="报送紧急信息 / submit an incident report",
)
async def submit_report(
    body: ReportBody,
    principal: Principal = Depends(require(Role.TOWNSHIP)),
    ctx: ServiceContext = Depends(get_context),
) -> ReportAccepted:
    if principal.role is Role.TOWNSHIP and body.township != principal.township:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"本令牌只能报送{principal.township}的信息 / this token reports for {principal.township} only",
        )
    # Refuse here what the consumer would only dead-letter: the township learns at once.
    if (refusal := ctx.policy.category_refusal(body.category, "urgent")) is not None:
        raise invalid("body", "category", refusal)
    if ctx.policy.townships and body.township not in ctx.policy.townships:
        raise invalid("body", "township", f"{body.township} is not in the township directory")
    now = ctx.clock.now()
    if body.known_at > now + CLOCK_SKEW:
        raise invalid("body", "known_at", "known_at is in the future")
    message = ReportMessage.model_validate(
        {
            **body.model_dump(),
            "report_id": body.report_id or uuid.uuid4().hex,
            # The county's receipt time is the service's clock, never the sender's.
            "reported_at": max(now, body.known_at),  # never before known_at (a skewed clock)
        }
    )
    published = await ctx.publisher.publish(message)
    return ReportAccepted(
        report_id=message.report_id,
        incident_id=message.incident_id,
        topic=published.topic,
        partition=published.partition,
        offset=published.offset,
        reported_at=message.reported_at or ctx.clock.now(),
    )
