"""约稿: the information section's assignments, each with every township's part (待报 / 已报 / 超时);
a new one with title, note, due date and townships (all, or those chosen). A due date already past
is refused beside its field. A township meets its part by answering on 报送日常信息."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from alerting.accounts.sessions import Session
from alerting.county import assignments
from alerting.domain import Role
from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.forms import Errors
from alerting.web.listing import logged, pager, times, who
from alerting.web.session import PageRefused, acting, allow, redirect, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/assignments", include_in_schema=False)
PAGE = 20
PART_ZH = {"owed": "待报", "met": "已报", "overdue": "超时", "cancelled": "已取消"}


@router.get("", response_class=HTMLResponse)
async def list_page(
    request: Request,
    township: str = Query("", max_length=64),
    page: int = Query(1, ge=1, le=10_000),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    async with reading(ctx.engine) as conn:  # newest due first; the page is cut from the top
        found = await assignments.list_assignments(conn, township or None, limit=page * PAGE + 1)
    rows = found[(page - 1) * PAGE : page * PAGE]
    filters = {"township": township}
    values: dict[str, Any] = {
        "session": session,
        "title": "约稿",
        "rows": rows,
        "filters": filters,
        "pager": pager("/assignments", filters, page, len(found) > page * PAGE),
        "townships": sorted(ctx.policy.townships),
        "parts": PART_ZH,
        **times(ctx.clock.now()),
    }
    return render(request, ctx, "assignments.html", values)


def _form_page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    form: dict[str, Any],
    errors: Errors | None = None,
    status: int = 200,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "session": session,
        "title": "新建约稿",
        "form": form,
        "errors": errors or {},
        "townships": sorted(ctx.policy.townships),
    }
    return render(request, ctx, "assignment_form.html", values, status=status)


@router.get("/new", response_class=HTMLResponse)
async def new_page(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    form = {"title": "", "note": "", "due_on": "", "to": "all", "townships": []}
    return _form_page(request, ctx, session, form)


def _check(form: dict[str, Any], ctx: ServiceContext) -> assignments.NewAssignment | Errors:
    errors: Errors = {}
    if not form["title"]:
        errors["title"] = "请填写题目 / a title is required"
    chosen: list[str] = form["townships"] if form["to"] == "some" else []
    if form["to"] == "some" and not chosen:
        errors["townships"] = "请选择至少一个乡镇，或选“全部乡镇” / choose townships, or all of them"
    try:
        day = date.fromisoformat(form["due_on"])
    except ValueError:
        errors["due_on"] = "请填写截止日期 / give the due date"
    else:
        due_at = assignments.due_by_end_of(day, ctx.policy.tz)
        if due_at <= ctx.clock.now():
            errors["due_on"] = "截止日期已过，请选择今天或以后的日期 / the due date is in the past"
    if errors:
        return errors
    return assignments.NewAssignment(form["title"], form["note"], due_at, tuple(chosen))


@router.post("", response_class=HTMLResponse)
async def create(
    request: Request, session: Session = Depends(acting), ctx: ServiceContext = Depends(get_context)
) -> Response:
    allow(session, Role.INFO_SECTION)
    await signed_in(session)
    posted = await request.form()
    form: dict[str, Any] = {k: str(posted.get(k, "")).strip()[:5000] for k in ("title", "note", "due_on")}
    form["to"] = "some" if posted.get("to") == "some" else "all"
    form["townships"] = [str(t)[:64] for t in posted.getlist("townships")][:500]
    checked = _check(form, ctx)
    if not isinstance(checked, assignments.NewAssignment):
        return _form_page(request, ctx, session, form, checked, status=422)
    now = ctx.clock.now()
    try:
        async with ctx.engine.begin() as conn:
            created = await assignments.create(conn, checked, ctx.policy, who(session), now)
            towns = list(checked.townships) or ["全部"]
            await logged(conn, session, now, "assignment_created", created["id"], townships=towns)
    except UnknownTownship as exc:
        return _form_page(request, ctx, session, form, {"townships": str(exc)}, status=422)
    except ConflictError as exc:
        return _form_page(request, ctx, session, form, {"due_on": str(exc)}, status=422)
    ctx.on_armed(now)  # the deadline loop looks again at what is due next
    return redirect(f"/assignments/{created['id']}?done=created")


@router.get("/{assignment_id}", response_class=HTMLResponse)
async def one(
    request: Request,
    assignment_id: str = Path(min_length=1, max_length=64),
    done: str = Query("", max_length=16),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session, Role.INFO_SECTION)
    async with reading(ctx.engine) as conn:
        try:
            found = await assignments.get(conn, assignment_id)
        except NotFound as exc:
            raise PageRefused(str(exc), status=404) from None
    values: dict[str, Any] = {
        "session": session,
        "title": f"约稿：{found['title']}",
        "a": found,
        "parts": PART_ZH,
        "notice": "约稿已发出。" if done == "created" else "",
        **times(ctx.clock.now()),
    }
    return render(request, ctx, "assignment.html", values)
