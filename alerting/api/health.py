"""Liveness, readiness (database and Kafka reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from alerting.api.context import ServiceContext, get_context

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="the database and Kafka are reachable", responses={503: {}})
async def readyz(ctx: ServiceContext = Depends(get_context)) -> JSONResponse:
    async def database() -> bool:
        try:
            async with asyncio.timeout(2):
                async with ctx.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    db_ok, kafka_ok = await asyncio.gather(database(), ctx.kafka_ready())
    body = {"database": "ok" if db_ok else "unreachable", "kafka": "ok" if kafka_ok else "unreachable"}
    return JSONResponse(body, status_code=200 if db_ok and kafka_ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(ctx: ServiceContext = Depends(get_context)) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
