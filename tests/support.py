"""Test helpers that run real things: an HTTP receiver on 127.0.0.1 and the service with its API."""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerting import producer_keys, tokens
from alerting.app.service import Service
from alerting.clock import FakeClock
from alerting.domain import DeadlineKind, DeadlineState, Role
from alerting.policy.loader import load_policy
from alerting.policy.model import Policy
from alerting.policy.roster import Directory
from alerting.producer_keys import ProducerKey
from alerting.settings import Settings
from alerting.storage.engine import create_engine, upgrade
from alerting.storage.schema import deadlines, escalations
from escalation.engine import Firing

ROOT = Path(__file__).resolve().parent.parent


# A county-wide key, as `alerting producer-key create` without --township makes one: what a test
# writes straight to the topic under it is believed, reported_at included (consumers/signing.py).
TEST_PRODUCER_KEY = ProducerKey("pk_tests", "测试生产者", None, b"test-producer-secret-0123456789abcdef")
_KEYED: set[str] = set()


async def producer_key(database_url: str) -> ProducerKey:
    """TEST_PRODUCER_KEY, stored in the database at `database_url` (migrated first) once."""
    if database_url not in _KEYED:
        await asyncio.to_thread(upgrade, database_url)
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                kek = await producer_keys.encryption_key(conn, None)
                await producer_keys.store(conn, TEST_PRODUCER_KEY, kek, datetime.now(UTC))
        finally:
            await engine.dispose()
        _KEYED.add(database_url)
    return TEST_PRODUCER_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], what: str = "condition", within: float = 30.0
) -> None:
    """Wait for asynchronous processing (not for time-dependent logic: that runs on the fake clock)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def serve(app: Any, port: int, *, date_header: bool = True) -> AsyncIterator[str]:
    """`app` on 127.0.0.1:`port`; without `date_header` the app's answers carry its own Date (a
    receiver with a clock of its own)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        date_header=date_header,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def read_body(receive: Any) -> bytes:
    """The whole body of an ASGI HTTP request, as the bytes that arrived."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def read_request(scope: dict[str, Any], receive: Any) -> tuple[bytes, dict[str, str]]:
    """An ASGI HTTP request's whole body and its headers (names lower-cased)."""
    return await read_body(receive), {k.decode().lower(): v.decode() for k, v in scope["headers"]}


@asynccontextmanager
async def migrated_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the database at `database_url`, migrated to the latest schema first."""
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def fired_escalation(
    conn: AsyncConnection, kind: DeadlineKind, period: str, now: datetime, roles: list[str]
) -> int:
    """An exhausted deadline of 城关镇 and its fired escalation (no incident), as
    escalation/engine.py writes them; the escalation's id, for notification rows to refer to."""
    [deadline_id] = (
        await conn.execute(
            deadlines.insert().values(
                township="城关镇",
                kind=kind.value,
                period=period,
                due_at=now,
                state=DeadlineState.EXHAUSTED.value,
                fire_at=None,
                next_round=1,
                created_at=now,
            )
        )
    ).inserted_primary_key
    [escalation_id] = (
        await conn.execute(
            escalations.insert().values(
                deadline_id=deadline_id,
                incident_id=None,
                township="城关镇",
                round=0,
                step=0,
                roles=roles,
                recipients=[],
                fired_at=now,
                scheduled_for=now,
            )
        )
    ).inserted_primary_key
    return int(escalation_id)


def due_notification(
    escalation_id: int, channel: str, key: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A `notifications` row as escalation/engine.py writes it: pending, due at `now`, no incident."""
    return {
        "escalation_id": escalation_id,
        "incident_id": None,
        "channel": channel,
        "idempotency_key": key,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """A webhook endpoint: records every request; answers from `script` first, then 200."""

    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw, headers = await read_request(scope, receive)
        self.received.append(Received(scope["path"], headers, json.loads(raw or b"{}")))
        status = self.script.pop(0) if self.script else 200
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})

    def keys(self) -> list[str]:
        return [r.headers.get("idempotency-key", "") for r in self.received]


@dataclass
class RobotRequest:
    """One request to a chat robot, as it came."""

    path: str
    query: str  # still percent-encoded
    headers: dict[str, str]
    raw: bytes
    client: str = "127.0.0.1"  # the address the request came from

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


@dataclass(kw_only=True)
class ScriptedRobot:
    """A chat robot's endpoint (tests/dingtalk_robot.py, tests/wecom_robot.py, tests/feishu_bot.py):
    answers `script` first (one JSON answer each, before any check), then what `check` says; always
    HTTP 200 with a JSON answer, by default the errcode and errmsg WeCom and DingTalk answer."""

    script: list[dict[str, Any]] = field(default_factory=list)
    received: list[RobotRequest] = field(default_factory=list)
    url: str = ""

    def check(self, request: RobotRequest) -> tuple[int, str]:
        raise NotImplementedError

    def answer(self, code: int, message: str) -> dict[str, Any]:
        """The JSON answer saying what `check` found."""
        return {"errcode": code, "errmsg": message}

    def answer_headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"content-type", b"application/json")]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw, headers = await read_request(scope, receive)
        client = scope["client"][0] if scope.get("client") else ""
        request = RobotRequest(scope["path"], scope["query_string"].decode(), headers, raw, client)
        self.received.append(request)
        answer = self.script.pop(0) if self.script else self.answer(*self.check(request))
        await send({"type": "http.response.start", "status": 200, "headers": self.answer_headers()})
        await send({"type": "http.response.body", "body": json.dumps(answer, ensure_ascii=False).encode()})


async def answer_json(send: Any, status: int, answer: dict[str, Any]) -> None:
    """Answer an ASGI HTTP request with `answer` as UTF-8 JSON, as the providers' APIs do."""
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json")],
    }
    await send(start)
    await send({"type": "http.response.body", "body": json.dumps(answer, ensure_ascii=False).encode()})


@asynccontextmanager
async def serving(hook: Any) -> AsyncIterator[Any]:
    """`hook` (an ASGI app with a `url`) served on 127.0.0.1, its url set to the base address."""
    async with serve(hook, free_port()) as base:
        hook.url = base
        yield hook


def answering(answers: list[tuple[int, bytes]], headers: list[tuple[bytes, bytes]]) -> Any:
    """An ASGI app giving each request in turn the next (status, body) of `answers`, with `headers`."""
    queue = iter(answers)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status, body = next(queue)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@asynccontextmanager
async def receiver(script: list[int] | None = None) -> AsyncIterator[Receiver]:
    hook = Receiver(script=list(script or []))
    async with serve(hook, free_port()) as base:
        hook.url = f"{base}/county-hook"
        yield hook


def firing_for(policy: Policy) -> Firing:
    """What the engine needs to fire, from the policy alone: the directory a database freshly seeded
    from it holds (the service reads it from the database, see escalation/directory.py)."""
    return Firing(policy, Directory(policy.roster, townships=policy.townships))


def example_policy(webhook_url: str) -> Policy:
    """deploy/policy.example.toml with its roster CSV, sending escalations to `webhook_url`."""
    return load_policy(ROOT / "deploy/policy.example.toml", {"ALERTING_COUNTY_WEBHOOK_URL": webhook_url})


def service_settings(database_url: str, kafka_bootstrap: str, **overrides: Any) -> Settings:
    run = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka_bootstrap,
        "kafka_topic": f"incident.reports.{run}",
        "kafka_dlq_topic": f"incident.reports.{run}.dlq",
        "kafka_group_id": f"alerting-{run}",
        "kafka_topic_partitions": 3,
        "sweep_interval_s": 0.2,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Running:
    service: Service
    base_url: str
    client: httpx.AsyncClient
    clock: FakeClock

    async def token(self, role: Role, township: str | None = None) -> str:
        async with self.service.engine.begin() as conn:
            return await tokens.create(
                conn,
                name=f"{role.value}-{township or ''}",
                role=role,
                township=township,
                now=self.clock.now(),
            )

    async def incident(self, incident_id: str, token: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/incidents/{incident_id}", headers={"Authorization": f"Bearer {token}"}
        )
        return response.json() if response.status_code == 200 else {}


@asynccontextmanager
async def running_service(settings: Settings, policy: Policy, clock: FakeClock) -> AsyncIterator[Running]:
    port = free_port()
    settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    service = Service(settings, policy, clock)
    await service.start()
    try:
        async with serve(service.app, port) as base, httpx.AsyncClient(base_url=base) as client:
            yield Running(service, base, client, clock)
    finally:
        await service.stop()


def report_body(
    incident_id: str,
    township: str,
    *,
    known_at: datetime,
    type_: str = "first",
    level: str = "II",
    report_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "incident_id": incident_id,
        "township": township,
        "type": type_,
        "category": "安全生产",
        "level": level,
        "title": f"{township}某企业火情",
        "summary": "现场明火已扑灭，无人员伤亡，原因调查中。",
        "occurred_at": (known_at - timedelta(minutes=5)).isoformat(),
        "known_at": known_at.isoformat(),
        "reporter": {"name": "张三", "phone": "0791-88888888"},
    }
    if report_id:
        body["report_id"] = report_id
    return body
