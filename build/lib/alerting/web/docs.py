"""/docs: Swagger UI from the service's own files. FastAPI's default page loads it from a CDN (blank
on an intranet) and starts it with an inline script, which the pages' CSP refuses; here the start
is /static/docs-init.js, so /docs keeps the same strict CSP as every other page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from alerting.http.context import ServiceContext, get_context
from alerting.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request, ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    return render(request, ctx, "docs.html", {"session": None})
