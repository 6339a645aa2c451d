"""Jinja2 templates for the pages, with the filters they share (times in the policy's time zone)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from alerting.accounts.oplog import ACTION_ZH
from alerting.accounts.users import ROLE_ZH
from alerting.http.context import ServiceContext

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")  # autoescape on for .html
# The static files' version in their URLs (?v=), raised when they change so no cache serves old ones.
ASSETS = "2"


def _local(at: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return at.astimezone(tz).strftime(fmt) if at else "—"


def render(
    request: Request, ctx: ServiceContext, name: str, values: dict[str, Any], status: int = 200
) -> HTMLResponse:
    tz = ctx.policy.tz
    page = {
        "local": lambda at, fmt="%Y-%m-%d %H:%M": _local(at, tz, fmt),
        "role_zh": {role.value: zh for role, zh in ROLE_ZH.items()},
        "action_zh": ACTION_ZH,
        "assets": ASSETS,
        **values,
    }
    response = templates.TemplateResponse(request, name, page, status_code=status)
    # Pages show who is signed in and sometimes a temporary password: never cached.
    response.headers["Cache-Control"] = "no-store"
    return response
