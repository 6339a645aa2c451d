"""值班表: the duty roster of a period (default the next 14 days) and who is on duty now; add a swap
or an extra shift, withdraw a shift (with a reason), import the office's CSV (its shifts replace the
active ones inside its span; a bad row is named by line and column), the posts and their holders,
and the directory's change history. Every act goes through alerting/county/directory.py."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from alerting.accounts.sessions import Session
from alerting.county import directory
from alerting.domain import Role
from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.http.context import ServiceContext, get_context
from alerting.policy.roster import Person, Shift, parse_shifts_csv
from alerting.storage.engine import reading
from alerting.web.forms import Errors, field_errors, local_time
from alerting.web.listing import link, logged, times, who
from alerting.web.session import PageRefused, acting, allow, redirect, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/roster", include_in_schema=False)
CSV_FILE = File(description="the office's roster CSV")
MAX_CSV = 1_000_000  # a year of shifts is a few tens of kilobytes
DONE_ZH = {
    "added": "已新增班次。",
    "withdrawn": "已撤销班次。",
    "imported": "值班表已导入。",
    "post": "岗位已更新。",
}


def _start(text: str, ctx: ServiceContext) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return ctx.clock.now().astimezone(ctx.policy.tz).date()


async def _page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    since: str = "",
    days: int = 14,
    withdrawn: bool = False,
    *,
    errors: Errors | None = None,
    form: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    tz, now = ctx.policy.tz, ctx.clock.now()
    first = _start(since, ctx)
    start = datetime.combine(first, time(0), tz)
    async with reading(ctx.engine) as conn:
        shown = await directory.list_shifts(conn, start, start + timedelta(days=days), withdrawn=withdrawn)
        on_duty = await directory.on_duty(conn, ctx.policy, now, None)
        held = await directory.list_posts(conn, ctx.policy)
        history = await directory.changes(conn, limit=20)
    for s in shown:  # the views hold ISO texts (for the API's JSON): times again, for the page
        s["starts"], s["ends"] = datetime.fromisoformat(s["starts_at"]), datetime.fromisoformat(s["ends_at"])
    for c in history:
        c["when"] = datetime.fromisoformat(c["at"])
    values: dict[str, Any] = {
        "session": session,
        "title": "值班表",
        "shifts": shown,
        "on_duty": on_duty["holders"],
        "unfilled": on_duty["unfilled"],
        "posts": held,
        "post_roles": directory.POST_ZH,
        "history": history,
        "filters": {"from": first.isoformat(), "days": str(days), "withdrawn": "yes" if withdrawn else ""},
        "errors": errors or {},
        "form": form or {},
        "notice": notice,
        "townships": sorted(ctx.policy.townships),
        **times(now),
    }
    return render(request, ctx, "roster.html", values, status=status)


@router.get("", response_class=HTMLResponse)
async def roster_page(
    request: Request,
    since: str = Query("", alias="from", max_length=10),
    days: int = Query(14, ge=1, le=92),
    withdrawn: str = Query("", max_length=8),
    done: str = Query("", max_length=16),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    notice = DONE_ZH.get(done, "")
    return await _page(request, ctx, session, since, days, withdrawn == "yes", notice=notice)


def _person(name: str, phone: str, prefix: str) -> Person | Errors | None:
    if not name.strip() and not phone.strip():
        return None
    try:
        return Person(name=name, phone=phone)
    except ValidationError as exc:
        return {f"{prefix}_{k}": v for k, v in field_errors(exc).items()}


@router.post("/shifts", response_class=HTMLResponse)
async def add_shift(
    request: Request, session: Session = Depends(acting), ctx: ServiceContext = Depends(get_context)
) -> Response:
    """调班 or an extra shift: it wins over the shifts it overlaps that started before it."""
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    posted = await request.form()
    names = ("start", "end", "officer_name", "officer_phone", "leader_name", "leader_phone", "note")
    form = {k: str(posted.get(k, "")).strip()[:500] for k in names}
    tz = ctx.policy.tz
    errors: Errors = {}
    start, end = local_time(form["start"], tz), local_time(form["end"], tz)
    if not isinstance(start, datetime):
        errors["start"] = "请填写开始时间 / give the start"
    if not isinstance(end, datetime):
        errors["end"] = "请填写结束时间 / give the end"
    elif isinstance(start, datetime) and end <= start:
        errors["end"] = "结束时间须晚于开始时间 / a shift must end after it starts"
    officer = _person(form["officer_name"], form["officer_phone"], "officer")
    leader = _person(form["leader_name"], form["leader_phone"], "leader")
    if officer is None:
        errors["officer_name"] = "请填写值班员 / name the duty officer"
    for found in (officer, leader):
        if isinstance(found, dict):
            errors |= found
    if errors or not isinstance(officer, Person) or isinstance(leader, dict):
        return await _page(request, ctx, session, errors=errors, form=form, status=422)
    assert isinstance(start, datetime) and isinstance(end, datetime)
    shift = Shift(start=start, end=end, duty_officer=officer, leader_on_duty=leader)
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        added = await directory.add_shift(conn, ctx.policy, shift, who(session), form["note"], "web", now)
        await logged(conn, session, now, "shift_added", str(added["id"]), starts_at=start.isoformat())
    ctx.on_armed(now)
    first = start.astimezone(tz).date()
    return redirect(
        link("/roster", {"from": min(first, now.astimezone(tz).date()).isoformat()}, done="added")
    )


@router.post("/shifts/{shift_id}/withdraw", response_class=HTMLResponse)
async def withdraw(
    request: Request,
    shift_id: int = Path(ge=1, le=2**62),
    note: str = Form("", max_length=500),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    if not note.strip():
        errors = {"withdraw": "撤销班次须填写原因 / a withdrawal needs a reason", "shift": str(shift_id)}
        return await _page(request, ctx, session, errors=errors, status=422)
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            await directory.withdraw_shift(conn, ctx.policy, shift_id, who(session), note.strip(), now)
            await logged(conn, session, now, "shift_withdrawn", str(shift_id), note=note.strip())
    except NotFound as exc:
        raise PageRefused(str(exc), status=404) from None
    except ConflictError as exc:  # withdrawn already, by someone else
        return await _page(request, ctx, session, errors={"withdraw": str(exc)}, status=409)
    ctx.on_armed(now)
    return redirect("/roster?done=withdrawn")


@router.post("/import", response_class=HTMLResponse)
async def import_csv(
    request: Request,
    file: UploadFile = CSV_FILE,
    note: str = Form("", max_length=500),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    data = await file.read(MAX_CSV + 1)
    name = (file.filename or "roster.csv")[:100]
    try:
        if len(data) > MAX_CSV:
            raise ValueError(f"{name}: larger than {MAX_CSV // 1000} kB")
        new = parse_shifts_csv(data, ctx.policy.tz, name)
    except ValueError as exc:  # the file's line and column, as the CLI shows them
        return await _page(
            request, ctx, session, errors={"import": f"值班表有误 / bad roster: {exc}"}, status=422
        )
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            done = await directory.import_shifts(
                conn, ctx.policy, new, who(session), note.strip(), "import", now
            )
            details = {"added": done.added, "replaced": done.replaced, "file": name}
            await logged(conn, session, now, "roster_imported", str(done.change_id), **details)
    except ConflictError as exc:
        return await _page(request, ctx, session, errors={"import": str(exc)}, status=422)
    ctx.on_armed(now)
    first = done.starts_at.astimezone(ctx.policy.tz).date().isoformat()
    return redirect(link("/roster", {"from": first}, done="imported"))


@router.post("/posts", response_class=HTMLResponse)
async def set_post(
    request: Request,
    role: str = Form("", max_length=32),
    township: str = Form("", max_length=64),
    name: str = Form("", max_length=50),
    phone: str = Form("", max_length=40),
    vacant: str = Form("", max_length=8),
    note: str = Form("", max_length=500),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    form = {"role": role, "township": township, "name": name, "phone": phone, "note": note}
    holder = None if vacant == "yes" else _person(name, phone, "post")
    if isinstance(holder, dict) or (holder is None and vacant != "yes"):
        errors = (
            holder
            if isinstance(holder, dict)
            else {"post_name": "请填写姓名和电话，或选“空缺” / a holder, or vacant"}
        )
        return await _page(request, ctx, session, errors=errors, form=form, status=422)
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            await directory.set_post(
                conn, ctx.policy, role, township or None, holder, who(session), note.strip(), now
            )
            await logged(conn, session, now, "post_set", role, township=township, vacant=holder is None)
    except (NotFound, UnknownTownship, ConflictError) as exc:
        return await _page(request, ctx, session, errors={"post": str(exc)}, form=form, status=422)
    return redirect("/roster?done=post")
