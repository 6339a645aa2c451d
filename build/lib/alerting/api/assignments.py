"""/api/v1/assignments: the information section's assignments (约稿); a township sees its own."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting.api.auth import require
from alerting.api.schemas import Problem, invalid
from alerting.county import assignments
from alerting.domain import Role
from alerting.errors import ConflictError
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.tokens import Principal
from consumers.codec import IsoTime

router = APIRouter(prefix="/api/v1/assignments", tags=["assignments"])


class AssignmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200, description="题目")
    note: str = Field(default="", max_length=5000, description="说明")
    due_on: date | None = Field(default=None, description="截止日期: due by the end of this local day")
    due_at: IsoTime | None = Field(default=None, description="or an exact due time")
    townships: tuple[str, ...] = Field(default=(), max_length=500, description="乡镇; empty: all of them")

    @model_validator(mode="after")
    def _one_due(self) -> AssignmentBody:
        if (self.due_on is None) == (self.due_at is None):
            raise ValueError("give due_on (a date) or due_at (a time), one of them")
        return self


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={403: {"model": Problem}},
    summary="约稿 / give townships a topic with a due date",
)
async def create(
    body: AssignmentBody,
    principal: Principal = Depends(require(Role.INFO_SECTION)),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    tz = ctx.policy.tz
    if body.due_on is not None:
        due_at = assignments.due_by_end_of(body.due_on, tz)
    else:
        assert body.due_at is not None
        due_at = body.due_at
    new = assignments.NewAssignment(body.title, body.note, due_at, body.townships)
    try:
        async with ctx.engine.begin() as conn:
            created = await assignments.create(conn, new, ctx.policy, principal.name, ctx.clock.now())
    except ConflictError as exc:
        raise invalid("body", "due_on" if body.due_on else "due_at", str(exc)) from None
    ctx.on_armed(ctx.clock.now())  # the deadline loop looks again at what is due next
    return created


@router.get("", summary="约稿列表 / assignments, each township's part (a township: its own)")
async def list_all(
    limit: int = Query(default=100, ge=1, le=500),
    principal: Principal = Depends(
        require(Role.TOWNSHIP, Role.INFO_SECTION, Role.AUDITOR, Role.DUTY_OFFICER)
    ),
    ctx: ServiceContext = Depends(get_context),
) -> list[dict[str, Any]]:
    township = principal.township if principal.role is Role.TOWNSHIP else None
    async with reading(ctx.engine) as conn:
        return await assignments.list_assignments(conn, township, limit)


@router.get("/{assignment_id}", responses={404: {"model": Problem}}, summary="one assignment")
async def get_one(
    assignment_id: str = Path(min_length=1, max_length=64),
    principal: Principal = Depends(
        require(Role.TOWNSHIP, Role.INFO_SECTION, Role.AUDITOR, Role.DUTY_OFFICER)
    ),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    async with reading(ctx.engine) as conn:
        found = await assignments.get(conn, assignment_id)
    if principal.role is Role.TOWNSHIP:
        found["parts"] = [p for p in found["parts"] if p["township"] == principal.township]
        if not found["parts"]:
            raise invalid("path", "assignment_id", f"{principal.township} 未收到约稿 {assignment_id}")
    return found
