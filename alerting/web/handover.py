"""交接班: the summary at the change of shift, printable on A4: who hands over to whom (the shift of
now and the next one, from the directory), the open and the overdue incidents, and what was
acknowledged, closed or forwarded since the shift began."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from alerting.accounts.sessions import Session
from alerting.county import board as boards
from alerting.county import directory, duty
from alerting.domain import Role
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.duty_view import helpers
from alerting.web.session import allow, signed_in
from alerting.web.templating import render

router = APIRouter(include_in_schema=False)
INSTANT = timedelta(microseconds=1)
NO_ROSTER = timedelta(hours=24)  # without a shift, the summary covers the last day
MOST = 500  # open incidents listed; the count says if there are more


@router.get("/handover", response_class=HTMLResponse)
async def handover(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    allow(session, Role.DUTY_OFFICER, Role.INFO_SECTION, Role.AUDITOR)
    now = ctx.clock.now()
    async with reading(ctx.engine) as conn:
        current = next(iter(await directory.list_shifts(conn, now, now + INSTANT)), None)
        following = None
        if current is not None:
            ends = _at(current["ends_at"])
            following = next(iter(await directory.list_shifts(conn, ends, ends + INSTANT)), None)
        since = _at(current["starts_at"]) if current else now - NO_ROSTER
        found = await boards.board(conn, now, limit=MOST)
        overdue = await boards.board(conn, now, chip="overdue", limit=MOST)
        acts = await duty.shift_acts(conn, since, now + INSTANT)
    values: dict[str, Any] = {
        **helpers(now, ctx.policy.tz),
        "session": session,
        "title": "交接班",
        "current": current,
        "following": following,
        "since": since,
        "found": found,
        "overdue": overdue,
        "acts": acts,
        "counts": {a: sum(1 for x in acts if x["act"] == a) for a in duty.ACT_ZH.values()},
        "at": _at,
    }
    return render(request, ctx, "handover.html", values)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)  # the directory gives shifts' times as ISO text
