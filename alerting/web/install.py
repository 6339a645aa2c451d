"""Puts the people's pages on the app: routers, static files, security headers, error pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from alerting.web import admin, docs, duty, handover, incident_page, operations, pages
from alerting.web.security import PageHeaders
from alerting.web.session import PageRedirect, PageRefused, on_redirect, on_refused
from alerting.web.templating import STATIC


def install(app: FastAPI) -> None:
    for module in (pages, admin, operations, docs, duty, incident_page, handover):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(PageRedirect, on_redirect)
    app.add_exception_handler(PageRefused, on_refused)
    app.add_middleware(PageHeaders)
