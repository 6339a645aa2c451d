"""报送紧急信息: the township's form for a first, written, follow-up, final report or a correction.

It checks what POST /api/v1/reports checks, with the same model (ReportBody), and publishes through
the same path (ctx.publisher signs with the service's county key), so the report reaches the county
through Kafka like every other. Errors are shown beside their fields, in Chinese first. The form's
report id is chosen when it is first shown and kept in the browser's draft, so sending it again after
a dropped connection stores it once."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from alerting.accounts import oplog
from alerting.accounts.sessions import Session
from alerting.county import history
from alerting.domain import Level
from alerting.errors import IntakeUnavailable
from alerting.http.context import ServiceContext, get_context
from alerting.policy.model import Policy
from alerting.storage.engine import reading
from alerting.web.forms import Errors, duration_zh, field_errors, for_input, local_time
from alerting.web.session import acting, redirect, signed_in
from alerting.web.templating import render
from alerting.web.township import township_of
from consumers.codec import ReportBody, ReportMessage

router = APIRouter(include_in_schema=False)
CLOCK_SKEW = timedelta(minutes=2)  # as the API allows: a township's clock runs a little ahead
TYPE_ZH = {"first": "首报", "written": "书面报告", "followup": "续报", "final": "终报", "correction": "更正"}
LEVEL_ZH = {"I": "I 级（特别重大）", "II": "II 级（重大）", "III": "III 级（较大）", "IV": "IV 级（一般）"}
FIELDS = (
    "report_id", "incident_id", "type", "category", "level", "title", "summary", "occurred_at",
    "known_at", "place", "deaths", "injured", "missing", "reporter_name", "reporter_phone", "is_problem",
)  # fmt: skip
START_ZH = {"known_at": "获悉", "occurred_at": "发生"}


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def limits(policy: Policy, level: str, category: str) -> list[str]:
    """The limits that apply to this level and category, as the clerk reads them."""
    if level not in {lv.value for lv in Level}:
        return []
    if policy.categories and policy.stream_of(category) != "urgent":
        return []
    rules = policy.rules_for(Level(level), category)
    start = START_ZH[rules.clock_starts]
    shown = [
        f"首报（电话速报）：{start}后 {duration_zh(rules.first_report)} 内",
        f"书面报告：{start}后 {duration_zh(rules.written_report)} 内",
    ]
    if rules.followup is not None:
        parts = []
        if rules.followup.every is not None:
            parts.append(f"前 {duration_zh(rules.followup.for_)} 每 {duration_zh(rules.followup.every)} 一次")
        if rules.followup.at:
            parts.append(f"此后每日 {'、'.join(rules.followup.at)}")
        shown.append("续报：" + "，".join(parts))
    shown.append(f"终报：应急响应结束后 {duration_zh(rules.final_report)} 内")
    shown.append(f"县委办签收：{duration_zh(rules.ack)} 内")
    return shown


async def _page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    form: dict[str, str],
    errors: Errors | None = None,
    status: int = 200,
) -> HTMLResponse:
    township = township_of(session)
    async with reading(ctx.engine) as conn:
        known = await history.incidents_of(conn, township)
    categories = ctx.policy.categories
    values: dict[str, Any] = {
        "session": session,
        "title": "报送紧急信息",
        "form": form,
        "errors": errors or {},
        "incidents": known,
        "types": TYPE_ZH,
        "levels": LEVEL_ZH,
        "urgent": [c for c, r in categories.items() if r.stream == "urgent"],
        "routine": [c for c, r in categories.items() if r.stream == "routine"],
        "limits": limits(ctx.policy, form.get("level", ""), form.get("category", "")),
        "township": township,
    }
    return render(request, ctx, "report_form.html", values, status=status)


@router.get("/reports/new", response_class=HTMLResponse)
async def report_form(
    request: Request,
    type: str = Query("first", max_length=16),
    incident: str = Query("", max_length=64),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    township_of(session)
    now = ctx.clock.now()
    form = {
        "report_id": new_id("rpt"),
        "new_incident_id": new_id("inc"),
        "type": type if type in TYPE_ZH else "first",
        "incident_id": incident,
        "level": "IV",
        "category": "",
        "occurred_at": for_input(now, ctx.policy.tz),
        "known_at": for_input(now, ctx.policy.tz),
        "reporter_name": session.account.display_name,
        "preset": incident,  # the draft is kept per incident the form was opened for
    }
    if incident:
        async with reading(ctx.engine) as conn:
            found = {i["id"]: i for i in await history.incidents_of(conn, township_of(session))}
        if incident in found:  # a later report: the incident's level and category to start from
            form |= {"level": found[incident]["level"], "category": found[incident]["category"]}
    form["incident_id"] = form["incident_id"] or form["new_incident_id"]
    return await _page(request, ctx, session, form)


@router.get("/reports/limits", response_class=HTMLResponse)
async def report_limits(
    request: Request,
    level: str = Query("", max_length=8),
    category: str = Query("", max_length=64),
    session: Session = Depends(signed_in),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    """The limits box, refreshed by htmx when the level or category changes."""
    township_of(session)
    refusal = ctx.policy.category_refusal(category, "urgent") if category else None
    values = {"limits": limits(ctx.policy, level, category), "refusal": refusal}
    return render(request, ctx, "_report_limits.html", values)


def _body(form: dict[str, str], township: str, ctx: ServiceContext) -> dict[str, Any]:
    tz = ctx.policy.tz

    def number(name: str) -> str | None:
        return form.get(name, "").strip() or None

    casualties = {k: number(k) for k in ("deaths", "injured", "missing")}
    problem = form.get("is_problem", "")
    return {
        "report_id": form.get("report_id") or None,
        "incident_id": form.get("incident_id", ""),
        "township": township,
        "type": form.get("type", ""),
        "category": form.get("category", ""),
        "level": form.get("level", ""),
        "title": form.get("title", ""),
        "summary": form.get("summary", ""),
        "occurred_at": local_time(form.get("occurred_at", ""), tz),
        "known_at": local_time(form.get("known_at", ""), tz),
        "reporter": {"name": form.get("reporter_name", ""), "phone": form.get("reporter_phone", "")},
        "place": form.get("place", "").strip() or None,
        "casualties": casualties if any(casualties.values()) else None,
        "is_problem": {"yes": True, "no": False}.get(problem),
    }


def check(
    form: dict[str, str], township: str, known: set[str], ctx: ServiceContext, now: datetime
) -> ReportBody | Errors:
    """The model's checks and the API's, as {field: message} beside the form's fields."""
    try:
        body = ReportBody.model_validate(_body(form, township, ctx))
    except ValidationError as exc:
        errors = {k.removeprefix("casualties_"): v for k, v in field_errors(exc).items()}
        if "known_at is before" in errors.get("form", ""):
            errors["known_at"] = "获悉时间早于发生时间 / " + errors.pop("form")
        return errors
    if (refusal := ctx.policy.category_refusal(body.category, "urgent")) is not None:
        return {"category": refusal + "。日常信息请在“报送日常信息”页面报送（/items/new）。"}
    if body.type.value != "first" and body.incident_id not in known:
        return {"incident_id": "请选择本乡镇已报的事件 / choose the incident it reports on"}
    if body.known_at > now + CLOCK_SKEW:
        return {"known_at": "获悉时间晚于当前时间 / known_at is in the future"}
    return body


@router.post("/reports", response_class=HTMLResponse)
async def submit_report(
    request: Request, session: Session = Depends(acting), ctx: ServiceContext = Depends(get_context)
) -> Response:
    await signed_in(session)
    township = township_of(session)
    posted = await request.form()
    form = {name: str(posted.get(name, ""))[:20000] for name in (*FIELDS, "new_incident_id", "preset")}
    now = ctx.clock.now()
    async with reading(ctx.engine) as conn:
        known = {i["id"] for i in await history.incidents_of(conn, township)}
    checked = check(form, township, known, ctx, now)
    if not isinstance(checked, ReportBody):
        return await _page(request, ctx, session, form, checked, status=422)
    message = ReportMessage.model_validate(
        {
            **checked.model_dump(),
            "report_id": checked.report_id or new_id("rpt"),
            "reported_at": max(now, checked.known_at),
        }
    )
    try:
        await ctx.publisher.publish(message)
    except IntakeUnavailable:
        error = {
            "form": "报送未成功：消息总线暂不可用，本页内容已保存为草稿，请稍后再点“报送”。/ "
            "Not sent: the message bus is unavailable; the draft is kept, send again shortly."
        }
        return await _page(request, ctx, session, form, error, status=503)
    async with ctx.engine.begin() as conn:
        details = {
            "incident_id": message.incident_id,
            "type": message.type.value,
            "level": message.level.value,
        }
        await oplog.record(
            conn, at=now, actor=session.account.username, action="report_submitted",
            target=message.report_id, details=details,
        )  # fmt: skip
    return redirect(f"/submissions?sent=report&id={message.report_id}")
