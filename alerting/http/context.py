"""What route handlers may use from the running service, typed (no untyped state bag)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accounts.sessions import Lifetime
from alerting.clock import Clock
from alerting.links import AckLinks
from alerting.metrics import Metrics
from alerting.policy.model import Policy
from alerting.tokens import TokenCache
from consumers.publisher import ReportPublisher


class WorkerLink(Protocol):
    """The worker child process as the API sees it (alerting/app/worker.py), when there is one."""

    def poke(self, at: datetime) -> None: ...

    async def ready(self) -> bool: ...

    async def metrics(self) -> str: ...


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What the people's pages need beyond the API's context."""

    lifetime: Lifetime = field(default_factory=Lifetime)
    secure_cookies: bool = False  # people reach the service over https
    form_key: Callable[[], bytes | None] = lambda: None  # signs the sign-in form; set once started


@dataclass(frozen=True, slots=True)
class ServiceContext:
    engine: AsyncEngine
    publisher: ReportPublisher
    clock: Clock
    metrics: Metrics
    kafka_ready: Callable[[], Awaitable[bool]]
    links: Callable[[], AckLinks | None]  # set once the service has started
    policy: Policy
    on_armed: Callable[[datetime], None]  # wake the deadline loop for a newly armed deadline
    tokens: TokenCache
    http: httpx.AsyncClient  # the notifications' client, for a channel's test message
    worker: WorkerLink | None = None  # consumer, deadlines and delivery run in this child process
    intake_ok: Callable[[], bool] | None = None  # set where the consumer runs: its batches go through
    web: WebConfig = field(default_factory=WebConfig)


async def get_context(request: Request) -> ServiceContext:
    # async: a plain `def` dependency costs a thread-pool hop on every request.
    ctx: ServiceContext = request.app.state.context
    return ctx
