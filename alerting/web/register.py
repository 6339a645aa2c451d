"""登记事件: the information section registers an incident the county learned of elsewhere (热线、
媒体、上级通报). The form is checked by the rule POST /api/v1/incidents uses (county.registration),
then as a person filling it needs (the category's stream, times not later than now) and calls the
same county act; errors are shown beside their fields. The township then owes its report within the
first-report limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from alerting.accounts.sessions import Session
from alerting.county import actions
from alerting.county.registration import SOURCE_ZH, Registering
from alerting.domain import Role
from alerting.errors import ConflictError, UnknownTownship
from alerting.http.context import ServiceContext, get_context
from alerting.web.forms import Errors, field_errors, for_input, local_time
from alerting.web.listing import link, logged, who
from alerting.web.report_form import LEVEL_ZH, new_id
from alerting.web.session import acting, allow, redirect, signed_in
from alerting.web.templating import render

router = APIRouter(include_in_schema=False)
FIELDS = ("incident_id", "township", "level", "category", "title", "summary", "source")
TIMES = ("occurred_at", "learned_at")


def _page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    form: dict[str, str],
    errors: Errors | None = None,
    *,
    registered: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "session": session,
        "title": "登记事件",
        "form": form,
        "errors": errors or {},
        "townships": sorted(ctx.policy.townships),
        "urgent": [c for c, r in ctx.policy.categories.items() if r.stream == "urgent"],
        "levels": LEVEL_ZH,
        "sources": SOURCE_ZH,
        "registered": registered,
    }
    return render(request, ctx, "register.html", values, status=status)


def _fresh(ctx: ServiceContext) -> dict[str, str]:
    now = for_input(ctx.clock.now(), ctx.policy.tz)
    return {"incident_id": new_id("C"), "level": "IV", "source": "hotline", "learned_at": now}


@router.get("/register-incident", response_class=HTMLResponse)
async def form_page(
    request: Request,
    registered: str = Query("", max_length=64),
    due: str = Query("", max_length=40),
    township: str = Query("", max_length=64),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    done = None
    if registered:
        try:
            done = {"id": registered, "township": township, "due": datetime.fromisoformat(due)}
        except ValueError:
            done = None
    return _page(request, ctx, session, _fresh(ctx), registered=done)


def check(form: dict[str, str], ctx: ServiceContext, now: datetime) -> Registering | Errors:
    tz = ctx.policy.tz
    body: dict[str, Any] = {k: form[k] for k in FIELDS}
    body["occurred_at"] = local_time(form["occurred_at"], tz) if form["occurred_at"].strip() else None
    body["learned_at"] = local_time(form["learned_at"], tz)
    try:
        checked = Registering.model_validate(body)
    except ValidationError as exc:
        return field_errors(exc)
    if refused := checked.refusals(ctx.policy, now):
        return refused
    # A person typed it: a later 获悉时间 is a mistake to show (the API takes it as now, a clock skew).
    if (checked.learned_at or now) > now:
        return {"learned_at": "获悉时间晚于当前时间 / the county cannot have learned of it later than now"}
    return checked


@router.post("/register-incident", response_class=HTMLResponse)
async def register(
    request: Request, session: Session = Depends(acting), ctx: ServiceContext = Depends(get_context)
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    posted = await request.form()
    form = {name: str(posted.get(name, ""))[:20000] for name in (*FIELDS, *TIMES)}
    now = ctx.clock.now()
    checked = check(form, ctx, now)
    if not isinstance(checked, Registering):
        return _page(request, ctx, session, form, checked, status=422)
    registration = checked.registration(new_id("C"), now)
    try:
        async with ctx.engine.begin() as conn:
            due = await actions.register(conn, registration, who(session), ctx.policy, now)
            details = {"township": checked.township, "level": checked.level.value}
            await logged(conn, session, now, "incident_registered", registration.incident_id, **details)
    except UnknownTownship as exc:
        return _page(request, ctx, session, form, {"township": str(exc)}, status=422)
    except ConflictError as exc:  # the id is taken: a new one for the next attempt
        errors = {"incident_id": f"事件编号已存在，已换一个新编号 / {exc}"}
        return _page(request, ctx, session, form | {"incident_id": new_id("C")}, errors, status=409)
    ctx.on_armed(due)
    done = {"registered": registration.incident_id, "township": checked.township, "due": due.isoformat()}
    return redirect(link("/register-incident", done))
