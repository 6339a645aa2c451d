"""/api/v1/directory: the duty roster (值班表), the fixed posts and township leaders, and their history.
Changes take effect at the next firing pass, without a restart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from alerting.api.auth import require
from alerting.api.schemas import Problem, invalid
from alerting.county import directory
from alerting.domain import Role
from alerting.http.context import ServiceContext, get_context
from alerting.policy.roster import Person, Shift, parse_shifts_csv
from alerting.storage.engine import reading
from alerting.tokens import Principal

router = APIRouter(prefix="/api/v1/directory", tags=["directory"])
keepers = require(Role.INFO_SECTION)
readers = require(Role.INFO_SECTION, Role.DUTY_OFFICER, Role.AUDITOR)
MAX_CSV_BYTES = 1 << 20  # a year of shifts is ~50 KB
_VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"  # FastAPI's own 422 body


class PersonBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=50, description="姓名")
    phone: str = Field(min_length=3, max_length=40, pattern=r"^[0-9+\-() ]+$")


class ShiftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime = Field(description="开始（含）")
    ends_at: AwareDatetime = Field(description="结束（不含）")
    duty_officer: PersonBody = Field(description="值班员")
    leader_on_duty: PersonBody | None = Field(default=None, description="带班领导")
    note: str = Field(default="", max_length=500, description="说明，如：调班")


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(min_length=1, max_length=500, description="撤销原因")


class PostBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    township: str | None = Field(default=None, max_length=64, description="乡镇负责人岗位必填")
    holder: PersonBody | None = Field(description="新任人员；null：岗位空缺")
    note: str = Field(default="", max_length=500)


def _person(body: PersonBody | None) -> Person | None:
    return Person(name=body.name, phone=body.phone) if body else None


@router.get("/shifts", summary="值班表 / shifts overlapping a period (default: the next 14 days)")
async def shifts(
    start: AwareDatetime | None = Query(default=None, alias="from"),
    end: AwareDatetime | None = Query(default=None, alias="to"),
    withdrawn: bool = Query(default=False, description="include withdrawn shifts"),
    _: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> list[dict[str, Any]]:
    begin = start or ctx.clock.now()
    finish = end or begin + timedelta(days=14)
    if finish <= begin:
        raise invalid("query", "to", "结束须晚于开始 / `to` must be after `from`")
    async with reading(ctx.engine) as conn:
        return await directory.list_shifts(conn, begin, finish, withdrawn=withdrawn)


@router.post(
    "/shifts",
    status_code=status.HTTP_201_CREATED,
    responses={403: {"model": Problem}},
    summary="新增班次（调班） / add a shift (it wins over earlier-started shifts it overlaps)",
)
async def add_shift(
    body: ShiftBody, principal: Principal = Depends(keepers), ctx: ServiceContext = Depends(get_context)
) -> dict[str, Any]:
    try:
        shift = Shift(
            start=body.starts_at,
            end=body.ends_at,
            duty_officer=_person(body.duty_officer),
            leader_on_duty=_person(body.leader_on_duty),
        )
    except ValidationError:
        raise invalid("body", "ends_at", "班次结束须晚于开始 / a shift must end after it starts") from None
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        added = await directory.add_shift(conn, ctx.policy, shift, principal.name, body.note, "api", now)
    ctx.on_armed(now)
    return added


@router.post(
    "/shifts/import",
    responses={403: {"model": Problem}, 409: {"model": Problem}},
    summary="导入值班表 CSV / import the office's roster CSV (replaces the shifts inside its span)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
        "parameters": [{"name": "note", "in": "query", "schema": {"type": "string", "maxLength": 500}}],
        # The body is read by hand, so FastAPI does not list its own validation answer: say it here.
        "responses": {
            "422": {
                "description": "the CSV cannot be read: the line and column named",
                "content": {"application/json": {"schema": {"$ref": _VALIDATION_ERROR}}},
            }
        },
    },
)
async def import_csv(
    request: Request, principal: Principal = Depends(keepers), ctx: ServiceContext = Depends(get_context)
) -> dict[str, Any]:
    data = await request.body()
    if len(data) > MAX_CSV_BYTES:
        raise invalid("body", "csv", f"文件超过 {MAX_CSV_BYTES} 字节 / larger than {MAX_CSV_BYTES} bytes")
    note = request.query_params.get("note", "")[:500]
    try:
        new = parse_shifts_csv(data, ctx.policy.tz, "CSV")
    except ValueError as exc:
        raise invalid("body", "csv", f"值班表有误 / bad roster: {exc}") from None
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        done = await directory.import_shifts(conn, ctx.policy, new, principal.name, note, "import", now)
    ctx.on_armed(now)
    return {
        "change_id": done.change_id,
        "added": done.added,
        "replaced": done.replaced,
        "from": done.starts_at.isoformat(),
        "to": done.ends_at.isoformat(),
    }


@router.post(
    "/shifts/{shift_id}/withdraw",
    responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}},
    summary="撤销班次 / withdraw a shift (kept in history)",
)
async def withdraw(
    body: NoteBody,
    shift_id: int = Path(ge=1, le=2**63 - 1),
    principal: Principal = Depends(keepers),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        found = await directory.withdraw_shift(conn, ctx.policy, shift_id, principal.name, body.note, now)
    ctx.on_armed(now)
    return found


@router.get("/on-duty", summary="此刻在岗 / who holds each role at a moment (default: now)")
async def on_duty(
    at: AwareDatetime | None = Query(default=None),
    township: str | None = Query(default=None, max_length=64),
    _: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    async with reading(ctx.engine) as conn:
        return await directory.on_duty(conn, ctx.policy, at or ctx.clock.now(), township)


@router.get("/posts", summary="岗位与乡镇负责人 / the posts and who holds each now")
async def posts(
    _: Principal = Depends(readers), ctx: ServiceContext = Depends(get_context)
) -> list[dict[str, Any]]:
    async with reading(ctx.engine) as conn:
        return await directory.list_posts(conn, ctx.policy)


@router.put(
    "/posts/{role}",
    responses={403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}},
    summary="设置岗位人员 / give a post a new holder from now on",
)
async def set_post(
    body: PostBody,
    role: str = Path(max_length=32),
    principal: Principal = Depends(keepers),
    ctx: ServiceContext = Depends(get_context),
) -> dict[str, Any]:
    async with ctx.engine.begin() as conn:
        return await directory.set_post(
            conn,
            ctx.policy,
            role,
            body.township,
            _person(body.holder),
            principal.name,
            body.note,
            ctx.clock.now(),
        )


@router.get("/changes", summary="变更记录 / the directory's history, newest first")
async def changes(
    limit: int = Query(default=100, ge=1, le=1000),
    before: int | None = Query(default=None, ge=1, le=2**63 - 1),
    _: Principal = Depends(readers),
    ctx: ServiceContext = Depends(get_context),
) -> list[dict[str, Any]]:
    async with reading(ctx.engine) as conn:
        return await directory.changes(conn, limit, before)
