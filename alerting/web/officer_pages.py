"""信息员名录: the register of township information officers with each term's registered changes
(备案); register a term, register its end. The county act refuses an overlap with the same person's
other term, and its message is shown beside the form."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from alerting.accounts.sessions import Session
from alerting.county import officers
from alerting.domain import Role
from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.http.context import ServiceContext, get_context
from alerting.policy.roster import Person
from alerting.storage.engine import reading
from alerting.web.forms import Errors, field_errors
from alerting.web.listing import link, logged, pager, times, who
from alerting.web.session import PageRefused, acting, allow, redirect, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/officers", include_in_schema=False)
PAGE = 30
CHANGE_ZH = {"registered": "备案任期", "ended": "备案离任"}
FIELDS = ("township", "name", "phone", "employment", "starts_on", "ends_on", "note")


async def _page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    township: str = "",
    active: str = "",
    page: int = 1,
    *,
    form: dict[str, str] | None = None,
    errors: Errors | None = None,
    ending: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    today = ctx.clock.now().astimezone(ctx.policy.tz).date()
    async with reading(ctx.engine) as conn:
        terms = await officers.register_of(conn, township or None, today if active == "yes" else None)
        shown = [
            await officers.get(conn, t["id"]) for t in terms[(page - 1) * PAGE : page * PAGE]
        ]  # only the page's terms, each with its changes
    filters = {"township": township, "active": active}
    values: dict[str, Any] = {
        "session": session,
        "title": "信息员名录",
        "rows": shown,
        "filters": filters,
        "pager": pager("/officers", filters, page, len(terms) > page * PAGE),
        "townships": sorted(ctx.policy.townships),
        "employment": officers.EMPLOYMENT_ZH,
        "changes_zh": CHANGE_ZH,
        "form": form or {"employment": "part_time", "starts_on": today.isoformat()},
        "errors": errors or {},
        "ending": ending or {},
        "notice": notice,
        "today": today,
        **times(ctx.clock.now()),
    }
    return render(request, ctx, "officers.html", values, status=status)


@router.get("", response_class=HTMLResponse)
async def list_page(
    request: Request,
    township: str = Query("", max_length=64),
    active: str = Query("", max_length=8),
    page: int = Query(1, ge=1, le=10_000),
    done: str = Query("", max_length=16),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    notice = {"registered": "已备案任期。", "ended": "已备案离任。"}.get(done, "")
    return await _page(request, ctx, session, township, active, page, notice=notice)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _term(form: dict[str, str]) -> officers.Term | Errors:
    errors: Errors = {}
    if not form["township"]:
        errors["township"] = "请选择乡镇 / choose the township"
    try:
        person = Person(name=form["name"], phone=form["phone"])
    except ValidationError as exc:
        errors |= field_errors(exc)
    if form["employment"] not in officers.EMPLOYMENT_ZH:
        errors["employment"] = "请选择专职或兼职 / full- or part-time"
    starts_on, ends_on = _day(form["starts_on"]), _day(form["ends_on"])
    if starts_on is None:
        errors["starts_on"] = "请填写任期开始日 / give the first day"
    if form["ends_on"] and ends_on is None:
        errors["ends_on"] = "日期格式应为 YYYY-MM-DD / a date"
    if errors or starts_on is None:
        return errors
    employment: officers.Employment = "full_time" if form["employment"] == "full_time" else "part_time"
    return officers.Term(form["township"], person.name, person.phone, employment, starts_on, ends_on)


@router.post("", response_class=HTMLResponse)
async def register(
    request: Request, session: Session = Depends(acting), ctx: ServiceContext = Depends(get_context)
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    posted = await request.form()
    form = {k: str(posted.get(k, "")).strip()[:500] for k in FIELDS}
    term = _term(form)
    if not isinstance(term, officers.Term):
        return await _page(request, ctx, session, form=form, errors=term, status=422)
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            found = await officers.register(conn, term, ctx.policy, who(session), form["note"], now)
            await logged(conn, session, now, "officer_registered", str(found["id"]), township=term.township)
    except (ConflictError, UnknownTownship) as exc:  # an overlap: the county's message, beside the form
        return await _page(request, ctx, session, form=form, errors={"form": str(exc)}, status=409)
    ctx.on_armed(now)  # a vacancy may be due already (a late registration)
    return redirect(link("/officers", {"township": term.township}, done="registered"))


@router.post("/{officer_id}/end", response_class=HTMLResponse)
async def end(
    request: Request,
    officer_id: int = Path(ge=1, le=2**62),
    ends_on: str = Form("", max_length=10),
    note: str = Form("", max_length=500),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    day = _day(ends_on.strip())
    ending = {"id": str(officer_id), "ends_on": ends_on, "note": note}
    if day is None:
        ending["error"] = "请填写离任日期（最后一天）/ give the last day"
        return await _page(request, ctx, session, ending=ending, status=422)
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            found = await officers.end_term(
                conn, officer_id, day, ctx.policy, who(session), note.strip(), now
            )
            await logged(conn, session, now, "officer_term_ended", str(officer_id), ends_on=day.isoformat())
    except NotFound as exc:
        raise PageRefused(str(exc), status=404) from None
    except ConflictError as exc:  # ended already by someone else, or before it began
        ending["error"] = str(exc)
        return await _page(request, ctx, session, ending=ending, status=409)
    ctx.on_armed(now)
    return redirect(link("/officers", {"township": found["township"]}, done="ended"))
