"""Liveness, readiness (database, Kafka and the worker process) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from alerting.http.context import ServiceContext, get_context
from alerting.metrics import merge_expositions
from alerting.storage.engine import reading

router = APIRouter(tags=["health"])
# The worker child's (alerting/app/worker.py): the same answers, but its readiness is the parent's
# to report in alerting_ready, so that the merged exposition counts it once.
worker_router = APIRouter(tags=["health"])


@router.get("/healthz", summary="the process is up")
@worker_router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _readiness(ctx: ServiceContext) -> tuple[dict[str, bool], dict[str, str]]:
    """Each check's result, and the body /readyz answers with."""

    async def database() -> bool:
        try:
            async with asyncio.timeout(2):
                async with reading(ctx.engine) as conn:
                    await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    checks = {"database": database(), "kafka": ctx.kafka_ready()}
    if ctx.worker is not None:
        checks["worker"] = ctx.worker.ready()
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    # The worker answers but may not be ready (its own /readyz says which part is not).
    body = {
        name: "ok" if ok else "not ready" if name == "worker" else "unreachable"
        for name, ok in results.items()
    }
    if ctx.intake_ok is not None:  # the consumer runs here: is it getting its batches stored?
        results["intake"] = ctx.intake_ok()
        body["intake"] = "ok" if results["intake"] else "failing"
    return results, body


async def readiness(ctx: ServiceContext) -> tuple[bool, dict[str, str]]:
    """What /readyz answers; also what `alerting run` waits for before telling systemd it is ready."""
    results, body = await _recorded_readiness(ctx)
    return all(results.values()), body


async def _recorded_readiness(ctx: ServiceContext) -> tuple[dict[str, bool], dict[str, str]]:
    results, body = await _readiness(ctx)
    for name, ok in results.items():
        ctx.metrics.ready_check.labels(check=name).set(1 if ok else 0)
    ctx.metrics.ready.set(1 if all(results.values()) else 0)
    return results, body


@router.get(
    "/readyz",
    summary="the database, Kafka and the worker process are reachable; intake stores its batches",
    responses={503: {}},
)
async def readyz(ctx: ServiceContext = Depends(get_context)) -> JSONResponse:
    results, body = await _recorded_readiness(ctx)
    return JSONResponse(body, status_code=200 if all(results.values()) else 503)


@worker_router.get("/readyz", include_in_schema=False)
async def worker_readyz(ctx: ServiceContext = Depends(get_context)) -> JSONResponse:
    results, body = await _readiness(ctx)
    return JSONResponse(body, status_code=200 if all(results.values()) else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(ctx: ServiceContext = Depends(get_context)) -> Response:
    # Readiness as of this scrape: a service nobody probes (systemd) still shows it.
    await _recorded_readiness(ctx)
    own = generate_latest(ctx.metrics.registry)
    if ctx.worker is None:
        return Response(own, media_type=CONTENT_TYPE_LATEST)
    try:
        theirs = await ctx.worker.metrics()
    except Exception:
        # A partial scrape would read as counters going backwards: fail it, and `up` shows why.
        return PlainTextResponse("worker process unreachable", status_code=503)
    return Response(merge_expositions(own.decode(), theirs), media_type=CONTENT_TYPE_LATEST)


@worker_router.get("/metrics", include_in_schema=False)
async def worker_metrics(ctx: ServiceContext = Depends(get_context)) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
