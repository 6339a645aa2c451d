"""Puts the people's pages on the app: routers, static files, security headers, error pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from alerting.web import (
    admin,
    admin_channels,
    admin_tokens,
    assignment_pages,
    bulletins,
    docs,
    duty,
    entries,
    entry_reviews,
    followups,
    handover,
    incident_page,
    item_form,
    notices_sent,
    officer_pages,
    operations,
    pages,
    register,
    report_form,
    review_items,
    roster,
    submissions,
    township,
)
from alerting.web.security import PageHeaders
from alerting.web.session import PageRedirect, PageRefused, on_redirect, on_refused
from alerting.web.templating import STATIC


def install(app: FastAPI) -> None:
    for module in (pages, admin, admin_tokens, admin_channels, operations, docs):
        app.include_router(module.router)
    for module in (duty, incident_page, handover):  # the duty officers' pages
        app.include_router(module.router)
    for module in (review_items, entry_reviews, entries, bulletins):  # information section, auditors
        app.include_router(module.router)
    # The township clerk's pages (issue 15).
    for module in (township, report_form, item_form, submissions):
        app.include_router(module.router)
    # The information section's daily work (issue 15): 登记事件, 续报跟踪, 约稿, 信息员名录, 值班表, 通报.
    for module in (register, followups, assignment_pages, officer_pages, roster, notices_sent):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(PageRedirect, on_redirect)
    app.add_exception_handler(PageRefused, on_refused)
    app.add_middleware(PageHeaders)
