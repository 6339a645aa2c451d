"""Notification receivers misbehaving: the Outbox against a real database and real HTTP receivers.

Every receiver listens on 127.0.0.1 (uvicorn serving a scripted ASGI app, or a raw TCP server that
resets each connection, or nothing at all). Backoff runs on a FakeClock: the tests never sleep for
it, they set the clock to the row's `next_attempt_at` and only wait (`eventually`) for the sends
started by a tick to be recorded. The only real waits are the hanging receivers' 1-3 s httpx
timeouts and the 3 s dribble that shows the timeout is not a deadline for the whole attempt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.clock import FakeClock
from alerting.domain import DeadlineKind
from alerting.metrics import Metrics
from alerting.policy.channels import WebhookChannel
from alerting.storage.schema import notifications
from escalation.messages import Subject, escalation_payload
from escalation.notify.outbox import Outbox
from escalation.wakeup import WakeupLoop
from tests.faults.harness import summary
from tests.support import (
    Received,
    due_notification,
    eventually,
    example_policy,
    fired_escalation,
    free_port,
    migrated_engine,
    read_body,
    serve,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)  # fake time; the clock never moves while a send is in flight
SECRET = "s3cret-robot-key"  # carried in the URLs: must never reach a log line or last_error


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A freshly migrated database on each backend (as tests/storage/conftest.py does)."""
    async with migrated_engine(database_url) as engine:
        yield engine


# --- receivers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer: the sender's timeout has to end the attempt
    dribble: float = 0.0  # seconds over which to send the body, one byte at a time


HANG = Answer(hang=True)
DRIBBLE_GAP = 0.25  # well under any channel timeout: every read gets a byte in time


@dataclass
class Hook:
    """A webhook endpoint: records every request, answers from `script` in order, then 200."""

    script: list[Answer] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    # Set only at teardown, so that uvicorn can stop: during the test a hang is never released.
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(scope["path"], headers, json.loads(body or b"{}")))
        answer = self.script.pop(0) if self.script else Answer()
        if answer.hang:
            await self.release.wait()
        extra = [(k.encode(), v.encode()) for k, v in answer.headers.items()]
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        if answer.dribble:
            for _ in range(round(answer.dribble / DRIBBLE_GAP)):
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                await asyncio.sleep(DRIBBLE_GAP)
        await send({"type": "http.response.body", "body": b"{}"})

    @property
    def attempts(self) -> int:
        return len(self.received)

    def keys(self) -> list[str]:
        return [r.headers.get("idempotency-key", "") for r in self.received]


@asynccontextmanager
async def hook(*script: Answer | int) -> AsyncIterator[Hook]:
    app = Hook(script=[a if isinstance(a, Answer) else Answer(a) for a in script])
    async with serve(app, free_port()) as base:
        app.url = f"{base}/county-hook?key={SECRET}"
        try:
            yield app
        finally:
            app.release.set()


@dataclass
class Resetter:
    """A raw TCP server on 127.0.0.1 that accepts each connection and resets it at once."""

    connections: int = 0
    url: str = ""

    @property
    def attempts(self) -> int:
        return self.connections


class _ResetProtocol(asyncio.Protocol):
    def __init__(self, owner: Resetter) -> None:
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._owner.connections += 1
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        assert isinstance(transport, asyncio.Transport)
        transport.abort()


@asynccontextmanager
async def resetter() -> AsyncIterator[Resetter]:
    owner = Resetter()
    server = await asyncio.get_running_loop().create_server(lambda: _ResetProtocol(owner), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    owner.url = f"http://127.0.0.1:{port}/county-hook?key={SECRET}"
    try:
        yield owner
    finally:
        server.close()
        await server.wait_closed()


def refused_url() -> str:
    """A port on 127.0.0.1 with nothing listening."""
    return f"http://127.0.0.1:{free_port()}/county-hook?key={SECRET}"


# --- the outbox under test --------------------------------------------------------------------


def channel(url: str, *, timeout: str = "5s", max_attempts: int = 6) -> WebhookChannel:
    return WebhookChannel(type="webhook", url=url, timeout=timeout, max_attempts=max_attempts)


@dataclass
class Rig:
    engine: AsyncEngine
    clock: FakeClock
    metrics: Metrics
    outbox: Outbox

    async def seed(self, channel: str) -> int:
        """One fired escalation with one pending notification on `channel`, written as
        escalation/engine.py writes them (a township duty: no incident)."""
        now = self.clock.now()
        async with self.engine.begin() as conn:
            escalation_id = await fired_escalation(
                conn, DeadlineKind.SILENCE, f"fault:{channel}", now, ["township_leader"]
            )
            key = f"duty:{escalation_id}:0"
            payload = escalation_payload(
                subject=Subject("城关镇", duty=channel),
                kind=DeadlineKind.SILENCE,
                due_at=now,
                round_number=0,
                step=0,
                roles=("township_leader",),
                recipients=[],
                unresolved=["township_leader"],
                ack_urls={},
                idempotency_key=key,
                timezone="Asia/Shanghai",
            )
            row = due_notification(escalation_id, channel, key, payload, now)
            [notification_id] = (
                await conn.execute(notifications.insert().values(**row))
            ).inserted_primary_key
        return int(notification_id)

    async def row(self, notification_id: int) -> Row[Any]:
        async with self.engine.connect() as conn:
            query = select(notifications).where(notifications.c.id == notification_id)
            return (await conn.execute(query)).one()

    async def states(self) -> dict[str, str]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(notifications.c.channel, notifications.c.state))).all()
        return {r.channel: r.state for r in rows}

    async def attempt(self, notification_id: int) -> Row[Any]:
        """Tick at the current fake time, then wait for whatever it started to be recorded."""
        await self.outbox.tick(self.clock.now())
        row: Row[Any] | None = None

        async def recorded() -> bool:
            nonlocal row
            row = await self.row(notification_id)
            return row.state != "sending"

        await eventually(recorded, f"notification {notification_id} recorded")
        assert row is not None
        return row

    async def retry(self, notification_id: int) -> Row[Any]:
        """Move the fake clock to the row's next attempt and make it."""
        due = (await self.row(notification_id)).next_attempt_at
        assert due is not None
        await self.clock.set(due)
        return await self.attempt(notification_id)

    def counted(self, channel: str, outcome: str) -> float:
        """alerting_notifications_total{channel, outcome} from the exposition text."""
        text = generate_latest(self.metrics.registry).decode()
        prefix = f'alerting_notifications_total{{channel="{channel}",outcome="{outcome}"}} '
        values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
        return values[0] if values else 0.0


@asynccontextmanager
async def outbox_rig(
    engine: AsyncEngine, channels: dict[str, WebhookChannel], failover: tuple[str, ...] = ()
) -> AsyncIterator[Rig]:
    base = example_policy("http://127.0.0.1:9/unused")
    policy = base.model_copy(
        update={"channels": {**base.channels, **channels}, "delivery_failure_channels": failover}
    )
    clock, metrics = FakeClock(T0), Metrics()
    async with httpx.AsyncClient(follow_redirects=False) as client:
        outbox = Outbox(engine, policy, clock, client, metrics, lease=LEASE)
        try:
            yield Rig(engine, clock, metrics, outbox)
        finally:
            await outbox.drain()


# --- one fault at a time, ticked by hand ------------------------------------------------------


def timed_out(last_error: str | None) -> bool:
    """httpx's per-read timeout or the whole-attempt limit, whichever struck first (same limit)."""
    return last_error == "transport error: ReadTimeout" or (last_error or "").startswith(
        "no complete answer within"
    )


async def test_5xx_twice_then_delivered_on_the_third_attempt_with_one_key(engine: AsyncEngine) -> None:
    async with hook(503, 502) as receiver, outbox_rig(engine, {"flaky": channel(receiver.url)}) as rig:
        note = await rig.seed("flaky")

        first = await rig.attempt(note)
        assert (first.state, first.attempts, first.last_error) == ("pending", 1, "HTTP 503")
        assert T0 + timedelta(seconds=1) <= first.next_attempt_at <= T0 + timedelta(seconds=2)

        second = await rig.retry(note)
        assert (second.state, second.attempts, second.last_error) == ("pending", 2, "HTTP 502")
        wait = second.next_attempt_at - rig.clock.now()
        assert timedelta(seconds=2) <= wait <= timedelta(seconds=4)

        third = await rig.retry(note)
        assert (third.state, third.attempts, third.last_error) == ("sent", 3, None)
        assert (third.sent_at, third.next_attempt_at) == (rig.clock.now(), None)

    assert receiver.attempts == 3
    assert receiver.keys() == [third.idempotency_key] * 3
    assert {r.body["idempotency_key"] for r in receiver.received} == {third.idempotency_key}
    assert (rig.counted("flaky", "retry"), rig.counted("flaky", "sent")) == (2, 1)


async def test_429_retry_after_holds_the_next_attempt_for_120_seconds(engine: AsyncEngine) -> None:
    throttled = Answer(429, {"Retry-After": "120"})
    async with hook(throttled) as receiver, outbox_rig(engine, {"throttled": channel(receiver.url)}) as rig:
        note = await rig.seed("throttled")

        first = await rig.attempt(note)
        assert (first.state, first.attempts, first.last_error) == ("pending", 1, "HTTP 429")
        assert first.next_attempt_at == T0 + timedelta(seconds=120)

        await rig.clock.set(T0 + timedelta(seconds=119))
        early = await rig.attempt(note)  # a real tick at +119 s claims nothing
        assert (early.state, early.attempts) == ("pending", 1)
        assert receiver.attempts == 1

        await rig.clock.set(T0 + timedelta(seconds=120))
        second = await rig.attempt(note)
        assert (second.state, second.attempts) == ("sent", 2)

    assert receiver.attempts == 2
    assert receiver.keys() == [second.idempotency_key] * 2


async def test_a_receiver_that_hangs_times_out_as_retryable(engine: AsyncEngine) -> None:
    async with (
        hook(HANG) as receiver,
        outbox_rig(engine, {"hanging": channel(receiver.url, timeout="1s")}) as rig,
    ):
        note = await rig.seed("hanging")

        started = time.monotonic()
        row = await rig.attempt(note)
        spent = time.monotonic() - started

        assert (row.state, row.attempts) == ("pending", 1) and timed_out(row.last_error)
        assert T0 + timedelta(seconds=1) <= row.next_attempt_at <= T0 + timedelta(seconds=2)
        assert 0.9 <= spent < 4, f"the channel's 1 s timeout should end the attempt, took {spent:.2f} s"

    assert receiver.attempts == 1
    assert rig.counted("hanging", "retry") == 1


async def test_a_receiver_that_dribbles_past_the_timeout_is_cut_off(engine: AsyncEngine) -> None:
    async with (
        hook(Answer(dribble=3.0)) as receiver,
        outbox_rig(engine, {"dribbling": channel(receiver.url, timeout="1s")}) as rig,
    ):
        note = await rig.seed("dribbling")

        started = time.monotonic()
        row = await rig.attempt(note)
        spent = time.monotonic() - started

        assert receiver.attempts == 1
        assert spent < 2.5, f"a 1 s channel timeout let the attempt run {spent:.2f} s"
        assert (row.state, row.attempts) == ("pending", 1) and timed_out(row.last_error)


async def test_a_connection_reset_is_retryable(engine: AsyncEngine) -> None:
    async with resetter() as receiver, outbox_rig(engine, {"reset": channel(receiver.url)}) as rig:
        note = await rig.seed("reset")

        first = await rig.attempt(note)
        assert (first.state, first.attempts) == ("pending", 1)
        assert first.last_error.startswith("transport error: ")
        second = await rig.retry(note)
        assert (second.state, second.attempts) == ("pending", 2)

    assert receiver.connections == 2
    assert rig.counted("reset", "retry") == 2


async def test_refused_until_max_attempts_then_failed_loudly_without_the_url(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    url = refused_url()
    caplog.set_level(logging.INFO, logger="escalation.notify.outbox")
    async with outbox_rig(engine, {"refused": channel(url, max_attempts=3)}) as rig:
        note = await rig.seed("refused")

        first = await rig.attempt(note)
        assert (first.state, first.attempts, first.last_error) == (
            "pending",
            1,
            "transport error: ConnectError",
        )
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
        second = await rig.retry(note)
        assert (second.state, second.attempts) == ("pending", 2)
        last = await rig.retry(note)
        assert (last.state, last.attempts, last.next_attempt_at) == ("failed", 3, None)
        assert last.last_error == "transport error: ConnectError"

        await rig.clock.advance(timedelta(hours=1))
        assert (await rig.attempt(note)).attempts == 3  # failed is terminal

    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    message = error.getMessage()
    assert "refused" in message and "after 3 attempts" in message
    assert url not in message and "127.0.0.1" not in message and SECRET not in message
    assert SECRET not in caplog.text and SECRET not in (last.last_error or "")
    assert (rig.counted("refused", "retry"), rig.counted("refused", "failed")) == (2, 1)


async def test_a_slow_receiver_does_not_hold_up_the_others(engine: AsyncEngine) -> None:
    async with (
        hook(HANG) as slow,
        hook() as fast,
        outbox_rig(engine, {"slow": channel(slow.url, timeout="3s"), "fast": channel(fast.url)}) as rig,
    ):
        slow_note, fast_note = await rig.seed("slow"), await rig.seed("fast")

        await rig.outbox.tick(rig.clock.now())  # one tick claims both

        async def fast_sent_while_slow_in_flight() -> bool:
            states = await rig.states()
            assert states["slow"] == "sending", f"the slow send ended first: {states}"
            return states["fast"] == "sent"

        await eventually(fast_sent_while_slow_in_flight, "fast notification sent")
        assert (slow.attempts, fast.attempts) == (1, 1)  # the slow request did arrive: it is in flight

        slow_row = await rig.attempt(slow_note)  # waits out the slow one's timeout
        fast_row = await rig.row(fast_note)

    assert (fast_row.state, fast_row.attempts) == ("sent", 1)
    assert (slow_row.state, slow_row.attempts) == ("pending", 1) and timed_out(slow_row.last_error)
    assert (slow.attempts, fast.attempts) == (1, 1)


async def test_a_notification_that_fails_for_good_raises_the_alarm_elsewhere(engine: AsyncEngine) -> None:
    async with (
        hook(400) as broken,
        hook() as backup,
        outbox_rig(
            engine, {"robot": channel(broken.url), "duty_sms": channel(backup.url)}, ("duty_sms",)
        ) as rig,
    ):
        note = await rig.seed("robot")
        failed = await rig.attempt(note)
        assert failed.state == "failed"

        await rig.outbox.tick(rig.clock.now())  # the fallback row is due at once
        await eventually(lambda: backup.attempts == 1, "the alarm through the fallback channel")
    [alarm] = backup.received
    assert alarm.body["event"] == "delivery_failed" and alarm.body["failed_channel"] == "robot"
    assert alarm.body["text"].startswith("【通知发送失败】")
    assert alarm.headers["idempotency-key"] == f"{failed.idempotency_key}:failover"


async def test_a_permanent_400_fails_after_one_attempt(engine: AsyncEngine) -> None:
    async with hook(400) as receiver, outbox_rig(engine, {"rejected": channel(receiver.url)}) as rig:
        note = await rig.seed("rejected")

        row = await rig.attempt(note)
        assert (row.state, row.attempts, row.last_error, row.next_attempt_at) == (
            "failed",
            1,
            "HTTP 400",
            None,
        )
        await rig.clock.advance(timedelta(hours=1))
        assert (await rig.attempt(note)).attempts == 1

    assert receiver.attempts == 1
    assert (rig.counted("rejected", "retry"), rig.counted("rejected", "failed")) == (0, 1)


# --- every fault at once, through the delivery loop ---------------------------------------------


async def test_receiver_faults_all_at_once(engine: AsyncEngine) -> None:
    """Seven receivers, each with its fault, delivered by the WakeupLoop the service runs; the fake
    clock jumps to the next due attempt whenever everything due so far has been recorded."""
    async with AsyncExitStack() as stack:
        flaky = await stack.enter_async_context(hook(503, 503))
        throttled = await stack.enter_async_context(hook(Answer(429, {"Retry-After": "120"})))
        hanging = await stack.enter_async_context(hook(HANG, HANG))
        reset = await stack.enter_async_context(resetter())
        rejected = await stack.enter_async_context(hook(400))
        healthy = await stack.enter_async_context(hook())
        receivers: dict[str, Hook | Resetter | None] = {
            "flaky": flaky,
            "throttled": throttled,
            "hanging": hanging,
            "reset": reset,
            "refused": None,  # nothing listens
            "rejected": rejected,
            "healthy": healthy,
        }
        channels = {
            "flaky": channel(flaky.url),
            "throttled": channel(throttled.url),
            "hanging": channel(hanging.url, timeout="1s", max_attempts=2),
            "reset": channel(reset.url, max_attempts=2),
            "refused": channel(refused_url(), max_attempts=3),
            "rejected": channel(rejected.url),
            "healthy": channel(healthy.url),
        }
        rig = await stack.enter_async_context(outbox_rig(engine, channels))
        ids = {name: await rig.seed(name) for name in channels}

        loop = WakeupLoop("delivery", rig.clock, rig.outbox.tick, max_idle=timedelta(hours=1))
        rig.outbox.on_settled = loop.poke
        runner = asyncio.create_task(loop.run())

        async def quiescent() -> bool:
            """Nothing in flight and nothing due that the loop has yet to claim."""
            async with engine.connect() as conn:
                busy = (
                    await conn.execute(
                        select(notifications.c.id).where(
                            (notifications.c.state == "sending")
                            | (notifications.c.next_attempt_at <= rig.clock.now())
                        )
                    )
                ).first()
            return busy is None

        try:
            while True:
                await eventually(quiescent, "every due attempt recorded")
                async with engine.connect() as conn:
                    upcoming = (
                        await conn.execute(
                            select(notifications.c.next_attempt_at)
                            .where(notifications.c.state == "pending")
                            .order_by(notifications.c.next_attempt_at)
                            .limit(1)
                        )
                    ).scalar_one_or_none()
                if upcoming is None:
                    break
                await rig.clock.set(upcoming)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

        async with engine.connect() as conn:
            rows = {r.channel: r for r in (await conn.execute(select(notifications))).all()}

    assert {name: (rows[name].state, rows[name].attempts) for name in ids} == {
        "flaky": ("sent", 3),
        "throttled": ("sent", 2),
        "hanging": ("failed", 2),
        "reset": ("failed", 2),
        "refused": ("failed", 3),
        "rejected": ("failed", 1),
        "healthy": ("sent", 1),
    }
    seen = {name: r.attempts for name, r in receivers.items() if r is not None}
    assert seen == {"flaky": 3, "throttled": 2, "hanging": 2, "reset": 2, "rejected": 1, "healthy": 1}
    assert rows["throttled"].sent_at >= T0 + timedelta(seconds=120)
    for name in ("flaky", "throttled", "hanging", "rejected", "healthy"):
        hook_ = receivers[name]
        assert isinstance(hook_, Hook)
        assert set(hook_.keys()) == {rows[name].idempotency_key}
    assert all(SECRET not in (r.last_error or "") for r in rows.values())

    delivered = sum(r.state == "sent" for r in rows.values())
    failed = sum(r.state == "failed" for r in rows.values())
    attempts = sum(r.attempts for r in rows.values())
    assert (len(rows), delivered, failed, attempts) == (7, 3, 4, 14)
    outcomes = {o: sum(rig.counted(name, o) for name in ids) for o in ("sent", "retry", "failed")}
    assert outcomes == {"sent": delivered, "retry": attempts - delivered - failed, "failed": failed}
    summary(
        f"receivers ({engine.dialect.name})",
        notifications=len(rows),
        delivered=delivered,
        failed=failed,
        attempts=attempts,
    )
