"""What route handlers may use from the running service, typed (no untyped state bag)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.clock import Clock
from alerting.metrics import Metrics
from alerting.publisher import ReportPublisher


@dataclass(frozen=True, slots=True)
class ServiceContext:
    engine: AsyncEngine
    publisher: ReportPublisher
    clock: Clock
    metrics: Metrics
    kafka_ready: Callable[[], Awaitable[bool]]


def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.context
    return ctx
