"""/api/v1/items: routine items (日常信息). A township submits (202 once Kafka holds it); the
information section reviews and forwards; a township reads its own."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from alerting.api.auth import require
from alerting.api.schemas import Problem, invalid
from alerting.county import items
from alerting.domain import ITEM_STATUS_ZH, ItemDecision, ItemStatus, Role
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.storage.schema import items as items_table
from alerting.tokens import Principal
from consumers.codec import IsoTime
from consumers.item_codec import ItemBody, ItemMessage
from escalation import assignments

router = APIRouter(prefix="/api/v1/items", tags=["routine items"])
readers = require(Role.TOWNSHIP, Role.INFO_SECTION, Role.DUTY_OFFICER, Role.AUDITOR)
county = require(Role.INFO_SECTION, Role.DUTY_OFFICER)  # forwarding upward is the county's alone
ItemId = Path(min_length=1, max_length=64)


class ItemAccepted(BaseModel):
    item_id: str
    submission_id: str
    submitted_at: datetime
    topic: str
    partition: int
    offset: int


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: ItemDecision = Field(description="adopt 采用 | return 退回 | file 存档")
    version: int = Field(ge=1, description="the version reviewed; a newer one makes this a 409")
    reason: str | None = Field(default=None, max_length=1000, description="理由 (required to return)")
    level: Literal["county", "city", "province", "national"] | None = Field(
        default=None, description="采用级别 (required to adopt)"
    )
    publication: str | None = Field(default=None, max_length=100, description="刊物, e.g. 《XX信息》")
    issue: str | None = Field(default=None, max_length=50, description="期号, e.g. 2026年第12期")
    published_on: date | None = None

    @model_validator(mode="after")
    def _complete(self) -> DecisionBody:
        if (refusal := self.to_decision().refusal()) is not None:
            raise ValueError(refusal)
        return self

    def to_decision(self) -> items.Decision:
        return items.Decision(
            self.decision,
            self.version,
            self.reason,
            self.level,
            self.publication,
            self.issue,
            self.published_on,
        )


class ForwardBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to: str = Field(min_length=1, max_length=100, description="报送对象, e.g. 市委办")
    note: str | None = Field(default=None, max_length=500)


def _own(principal: Principal, township: str) -> None:
    if principal.role is Role.TOWNSHIP and township != principal.township:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"本令牌只能处理{principal.township}的信息 / this token acts for {principal.township} only",
        )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ItemAccepted,
    responses={403: {"model": Problem}, 409: {"model": Problem}, 503: {"model": Problem}},
    summary="报送日常信息 / submit a routine item, or a revised version of one",
)
async def submit_item(
    body: ItemBody,
    principal: Principal = Depends(require(Role.TOWNSHIP)),
    ctx: ServiceContext = Depends(get_context),
) -> ItemAccepted:
    _own(principal, body.township)
    if (refusal := ctx.policy.category_refusal(body.category, "routine")) is not None:
        raise invalid("body", "category", refusal)
    if not ctx.policy.in_directory(body.township):
        raise invalid("body", "township", f"{body.township} is not in the township directory")
    if body.assignment_id is not None:
        async with reading(ctx.engine) as conn:
            given = await assignments.given_to(conn, body.assignment_id)
        if given is None or body.township not in given:
            raise invalid(
                "body", "assignment_id", f"{body.township} 没有约稿 {body.assignment_id} / no such assignment"
            )
    if body.item_id is not None:
        await _revisable(ctx, body.item_id, body.township)
    submission_id = body.submission_id or uuid.uuid4().hex
    now = ctx.clock.now()
    message = ItemMessage.model_validate(
        {
            **body.model_dump(),
            "type": "routine",
            "submission_id": submission_id,
            "item_id": body.item_id or submission_id,
            "submitted_at": now,  # the county's receipt: the service's clock
        }
    )
    published = await ctx.publisher.publish_item(message)
    return ItemAccepted(
        item_id=message.item_id,
        submission_id=submission_id,
        submitted_at=now,
        topic=published.topic,
        partition=published.partition,
        offset=published.offset,
    )


async def _revisable(ctx: ServiceContext, item_id: str, township: str) -> None:
    """Refuse here what the consumer would only dead-letter."""
    async with reading(ctx.engine) as conn:
        row = (await conn.execute(select(items_table).where(items_table.c.id == item_id))).one_or_none()
    if row is None or row.township != township:
        raise invalid(
            "body", "item_id", f"{township} 没有日常信息 {item_id} / no item {item_id} of {township}"
        )
    if row.status not in (ItemStatus.SUBMITTED.value, ItemStatus.RETURNED.value):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"日常信息 {item_id} {ITEM_STATUS_ZH[row.status]}，不能再报新版本 / "
            f"item {item_id} was {row.status} by {row.decided_by}; it takes no new version",
        )


@router.get("", summary="日常信息列表 / routine items, newest first")
async def list_items(
    township: str | None = Query(default=None, max_length=64),
    status_: ItemStatus | None = Query(default=None, alias="status"),
    category: str | None = Query(default=None, max_length=64),
    before: IsoTime | None = Query(default=None, description="submitted before (paging back)"),
    limit: int = Query(default=50, ge=1, le=200),
    principal: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> list[dict[str, Any]]:
    if principal.role is Role.TOWNSHIP:
        township = principal.township  # a township sees its own
    async with reading(ctx.engine) as conn:
        return await items.list_items(
            conn, township=township, status=status_, category=category, before=before, limit=limit
        )


@router.get(
    "/{item_id}",
    responses={404: {"model": Problem}},
    summary="日常信息详情 / one item, its versions and timeline",
)
async def get_item(
    item_id: str = ItemId, principal: Principal = Depends(readers), ctx: ServiceContext = Depends(get_context)
) -> dict[str, Any]:
    async with reading(ctx.engine) as conn:
        detail = await items.item_detail(conn, item_id, ctx.policy.tz)
    _own(principal, detail["township"])
    return detail


@router.post(
    "/{item_id}/decision",
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="审核 / adopt (采用), return (退回, with a reason) or file (存档) the version reviewed",
)
async def decide(
    body: DecisionBody,
    item_id: str = ItemId,
    principal: Principal = Depends(require(Role.INFO_SECTION)),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    decision = body.to_decision()
    tz = ctx.policy.tz
    async with ctx.engine.begin() as conn:
        await items.decide(conn, item_id, decision, principal.name, tz, ctx.clock.now())
        return await items.item_detail(conn, item_id, tz)


@router.post(
    "/{item_id}/forwards",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="上报 / record that the county forwarded an adopted item upward (never a township)",
)
async def forward(
    body: ForwardBody,
    item_id: str = ItemId,
    principal: Principal = Depends(county),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    tz = ctx.policy.tz
    async with ctx.engine.begin() as conn:
        await items.forward(conn, item_id, body.to, body.note, principal.name, tz, ctx.clock.now())
        return await items.item_detail(conn, item_id, tz)
