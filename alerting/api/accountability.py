"""GET /api/v1/accountability: auditors list entries, filtered and paged by cursor."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import AwareDatetime

from alerting import queries
from alerting.api.auth import require
from alerting.api.context import ServiceContext, get_context
from alerting.api.schemas import EntryOut, EntryPage
from alerting.domain import EntryKind, Role
from alerting.tokens import Principal

router = APIRouter(prefix="/api/v1/accountability", tags=["accountability"])


@router.get("", response_model=EntryPage, summary="问责记录 / accountability entries")
async def list_entries(
    township: str | None = Query(default=None, max_length=64),
    kind: EntryKind | None = None,
    since: AwareDatetime | None = Query(
        default=None, description="occurred at or after (ISO 8601 with offset)"
    ),
    until: AwareDatetime | None = Query(default=None, description="occurred before"),
    cursor: int | None = Query(default=None, ge=0, description="next_cursor of the previous page"),
    limit: int = Query(default=100, ge=1, le=1000),
    _: Principal = Depends(require(Role.AUDITOR)),
    ctx: ServiceContext = Depends(get_context),
) -> EntryPage:
    if since and until and since >= until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "since must be before until")
    f = queries.EntryFilter(
        township=township,
        kind=kind.value if kind else None,
        since=since,
        until=until,
        after_id=cursor,
        limit=limit,
    )
    async with ctx.engine.connect() as conn:
        rows = await queries.list_entries(conn, f)
    entries = [EntryOut.model_validate(r) for r in rows]
    return EntryPage(entries=entries, next_cursor=entries[-1].id if len(entries) == limit else None)
