"""The ASGI applications: the API and the pages around a running service's context, and the worker's
health-and-metrics app."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from alerting import __version__
from alerting.api import (
    accountability,
    assignments,
    board,
    bulletins,
    directory,
    health,
    incidents,
    inspections,
    items,
    notices,
    officers,
    reports,
)
from alerting.api.schemas import Problem
from alerting.errors import ConflictError, IntakeUnavailable, NotFound, UnknownTownship
from alerting.http.context import ServiceContext
from alerting.web import ack, short_links
from alerting.web.install import install as install_pages


def create_app(context: ServiceContext) -> FastAPI:
    app = FastAPI(
        title="县级紧急信息报送与预警服务 / County urgent-incident reporting and alerting",
        version=__version__,
        # FastAPI answers 400 itself for a body it cannot parse (not JSON, not UTF-8).
        responses={400: {"model": Problem, "description": "the request body could not be parsed"}},
        # /docs is served from the service's own copy of Swagger UI (alerting/web/docs.py): the
        # default loads it from a CDN, which an intranet cannot reach.
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    routers = (
        reports,
        items,
        assignments,
        notices,
        officers,
        inspections,
        directory,
        board,
        incidents,
        accountability,
        bulletins,
    )
    for module in (*routers, ack, short_links, health):
        app.include_router(module.router)
    install_pages(app)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UnknownTownship)
    async def _unknown_township(_: Request, exc: UnknownTownship) -> JSONResponse:
        # The shape of FastAPI's own 422: clients parse one format.
        detail = [{"loc": ["body", "township"], "msg": str(exc), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(OSError)
    async def _database_away(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "数据库暂时不可用，请稍后重试 / the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(IntakeUnavailable)
    async def _unavailable(_: Request, exc: IntakeUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": f"暂时无法接收，请稍后重试 / {exc}"}, status_code=503, headers={"Retry-After": "5"}
        )

    return app


def create_worker_app(context: ServiceContext) -> FastAPI:
    """What the worker child process serves on loopback: health and metrics only (no API, no docs)."""
    app = FastAPI(title="alerting worker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.context = context
    app.include_router(health.worker_router)
    return app
