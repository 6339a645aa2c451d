"""Signed webhooks (Standard Webhooks) against a real receiver on 127.0.0.1 that verifies them as the
specification says (https://www.standardwebhooks.com/, spec/standard-webhooks.md): it recomputes the
HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{raw body}` with the base64 key after `whsec_`,
compares each `v1,` entry of webhook-signature in constant time, and refuses a timestamp more than
five minutes from its own clock. It answers 401 to anything it refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.clock import FakeClock
from alerting.errors import PermanentDelivery, PolicyError
from alerting.policy.channels import WebhookChannel
from alerting.policy.loader import parse_policy
from escalation.notify import webhook
from tests.faults.test_receiver_faults import outbox_rig
from tests.support import free_port, migrated_engine, read_body, serve

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # 1772352000
SECRET = "whsec_" + base64.b64encode(b"county-webhook-signing-key-32-by").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"not-the-county-key-but-32-bytes!").decode()
KEY = "inc-7:12:1"
PAYLOAD: dict[str, Any] = {"event": "deadline_missed", "idempotency_key": KEY, "text": "城关镇火情，请签收"}
# What the county sends for PAYLOAD, written out: compact JSON, UTF-8, keys in their order.
BODY = '{"event":"deadline_missed","idempotency_key":"inc-7:12:1","text":"城关镇火情，请签收"}'.encode()
TOLERANCE = timedelta(minutes=5)

# The worked example of the Standard Webhooks reference libraries (test_sign_function in
# standard-webhooks/standard-webhooks libraries/python/tests/test_webhooks.py).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# --- a receiver's verification, from the specification (not product code) ------------------------


def hmac_v1(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret[len("whsec_") :])
    digest = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def refusal(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> str | None:
    """Why a receiver holding `secret` refuses this request at `now`; None when it is genuine."""
    msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        return "missing header"
    if not timestamp.isdigit():
        return "timestamp is not integer seconds"
    if abs(now - datetime.fromtimestamp(int(timestamp), UTC)) > TOLERANCE:
        return "timestamp outside the tolerance"
    expected = hmac_v1(secret, msg_id, timestamp, body)
    for entry in signatures.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return "no matching signature"


@dataclass
class Arrival:
    headers: dict[str, str]
    body: bytes
    refused: str | None


@dataclass
class VerifyingReceiver:
    """Verifies each request against `secret` at `now()`: 401 if refused, else `script`, then 200."""

    secret: str
    now: Callable[[], datetime]
    script: list[int] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        why = refusal(self.secret, headers, body, self.now())
        self.arrivals.append(Arrival(headers, body, why))
        status = 401 if why else (self.script.pop(0) if self.script else 200)
        answer = json.dumps({"error": why} if why else {}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def receiver(
    now: Callable[[], datetime], secret: str = SECRET, script: list[int] | None = None
) -> AsyncIterator[VerifyingReceiver]:
    app = VerifyingReceiver(secret, now, list(script or []))
    async with serve(app, free_port()) as base:
        app.url = f"{base}/county-hook"
        yield app


def channel(url: str, secret: str | None = SECRET, **fields: Any) -> WebhookChannel:
    return WebhookChannel.model_validate({"type": "webhook", "url": url, "secret": secret, **fields})


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


# --- the signature ---------------------------------------------------------------------------------


def test_the_specifications_worked_example() -> None:
    key = channel("http://127.0.0.1:9/x", SPEC_SECRET).signing_key()
    assert key is not None
    assert webhook.signature(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    # and the test's receiver, written from the spec, accepts it at that moment (and not a day later)
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    signed_at = datetime.fromtimestamp(SPEC_TIMESTAMP, UTC)
    assert refusal(SPEC_SECRET, headers, SPEC_BODY, signed_at) is None
    assert refusal(SPEC_SECRET, headers, SPEC_BODY, signed_at + timedelta(days=1)) is not None


async def test_exact_headers_and_body_for_a_fixed_secret_id_time_and_payload(
    client: httpx.AsyncClient,
) -> None:
    clock = FakeClock(T0)
    async with receiver(clock.now) as hook:
        await webhook.send(
            client, channel(hook.url, headers={"X-County": "county-office"}), PAYLOAD, KEY, clock
        )
    [got] = hook.arrivals
    assert got.refused is None
    assert got.body == BODY
    expected = "v1," + hmac_v1(SECRET, KEY, "1772352000", BODY)
    assert {k: v for k, v in got.headers.items() if k.startswith("webhook-")} == {
        "webhook-id": KEY,
        "webhook-timestamp": "1772352000",
        "webhook-signature": expected,
    }
    assert got.headers["idempotency-key"] == KEY
    assert got.headers["content-type"] == "application/json"
    assert got.headers["content-length"] == str(len(BODY))
    assert got.headers["x-county"] == "county-office"


async def test_without_a_secret_nothing_is_signed_and_the_body_is_the_same(client: httpx.AsyncClient) -> None:
    async with receiver(FakeClock(T0).now) as hook:  # a receiver that insists on signatures
        with pytest.raises(PermanentDelivery, match=r"^HTTP 401$"):
            await webhook.send(client, channel(hook.url, None), PAYLOAD, KEY)
    [got] = hook.arrivals
    assert got.refused == "missing header"
    assert not [k for k in got.headers if k.startswith("webhook-")]
    assert (got.body, got.headers["idempotency-key"]) == (BODY, KEY)


async def test_a_dot_in_the_key_is_encoded_in_the_webhook_id(client: httpx.AsyncClient) -> None:
    clock = FakeClock(T0)
    async with receiver(clock.now) as hook:
        await webhook.send(client, channel(hook.url), PAYLOAD, "inc.7%:12:1", clock)
    [got] = hook.arrivals
    assert (got.refused, got.headers["webhook-id"]) == (None, "inc%2E7%25:12:1")
    assert got.headers["idempotency-key"] == "inc.7%:12:1"


# --- what the receiver refuses ---------------------------------------------------------------------


async def test_a_tampered_body_or_replayed_signature_is_refused(client: httpx.AsyncClient) -> None:
    clock = FakeClock(T0)
    async with receiver(clock.now) as hook:
        await webhook.send(client, channel(hook.url), PAYLOAD, KEY, clock)
        signed = {k: v for k, v in hook.arrivals[0].headers.items() if k.startswith("webhook-")}
        tampered = BODY.replace("城关镇".encode(), "东山镇".encode())
        again = await client.post(hook.url, content=tampered, headers=signed)
        other_id = await client.post(hook.url, content=BODY, headers={**signed, "webhook-id": "inc-8:12:1"})
    assert [a.refused for a in hook.arrivals] == [None, "no matching signature", "no matching signature"]
    assert (again.status_code, other_id.status_code) == (401, 401)


async def test_a_wrong_secret_is_refused_and_not_retried(client: httpx.AsyncClient) -> None:
    clock = FakeClock(T0)
    async with receiver(clock.now, secret=OTHER_SECRET) as hook:
        with pytest.raises(PermanentDelivery) as info:
            await webhook.send(client, channel(hook.url), PAYLOAD, KEY, clock)
    assert str(info.value) == "HTTP 401"
    assert hook.arrivals[0].refused == "no matching signature"


@pytest.mark.parametrize(
    ("skew", "refused"),
    [
        (timedelta(minutes=5), None),
        (-timedelta(minutes=5), None),
        (timedelta(minutes=5, seconds=1), "timestamp outside the tolerance"),
        (-timedelta(minutes=5, seconds=1), "timestamp outside the tolerance"),
    ],
)
async def test_the_receiver_refuses_a_timestamp_beyond_five_minutes(
    client: httpx.AsyncClient, skew: timedelta, refused: str | None
) -> None:
    sender = FakeClock(T0 + skew)  # the county's clock, `skew` off the receiver's
    async with receiver(FakeClock(T0).now) as hook:
        if refused:
            # No standard code says "clock skew": a 401 is permanent like any other 4xx.
            with pytest.raises(PermanentDelivery, match=r"^HTTP 401$"):
                await webhook.send(client, channel(hook.url), PAYLOAD, KEY, sender)
        else:
            await webhook.send(client, channel(hook.url), PAYLOAD, KEY, sender)
    assert [a.refused for a in hook.arrivals] == [refused]


# --- retries through the outbox: the same id, a fresh timestamp -------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(f"sqlite+aiosqlite:///{tmp_path / 'alerting.db'}") as engine:
        yield engine


async def test_a_retry_keeps_the_webhook_id_and_signs_a_fresh_timestamp(engine: AsyncEngine) -> None:
    clock_of_the_rig: list[FakeClock] = []
    async with (
        receiver(lambda: clock_of_the_rig[0].now(), script=[503]) as hook,
        outbox_rig(engine, {"signed": channel(hook.url)}) as rig,
    ):
        clock_of_the_rig.append(rig.clock)  # the receiver's clock is the outbox's: no skew
        note = await rig.seed("signed")
        first = await rig.attempt(note)
        assert (first.state, first.last_error) == ("pending", "HTTP 503")
        second = await rig.retry(note)
        assert second.state == "sent"
    assert [a.refused for a in hook.arrivals] == [None, None]
    ids = [a.headers["webhook-id"] for a in hook.arrivals]
    stamps = [int(a.headers["webhook-timestamp"]) for a in hook.arrivals]
    assert ids == [first.idempotency_key] * 2
    assert stamps[0] == int(T0.timestamp())
    assert stamps[1] == int(rig.clock.now().timestamp()) > stamps[0]  # the clock was moved to the retry
    assert hook.arrivals[0].body == hook.arrivals[1].body
    assert hook.arrivals[0].headers["webhook-signature"] != hook.arrivals[1].headers["webhook-signature"]


# --- the policy ------------------------------------------------------------------------------------


EXAMPLE = (Path(__file__).parents[2] / "deploy/policy.example.toml").read_text(encoding="utf-8")
ENV = {"ALERTING_COUNTY_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
COMMENTED = '# secret = "${ALERTING_COUNTY_WEBHOOK_SECRET}"'
SIGNED_EXAMPLE = EXAMPLE.replace(COMMENTED, COMMENTED.removeprefix("# "))


def test_the_example_policy_signs_with_the_secret_from_the_environment() -> None:
    assert COMMENTED in EXAMPLE
    assert parse_policy(EXAMPLE, env=ENV).channels["county_webhook"].secret is None  # type: ignore[union-attr]
    policy = parse_policy(SIGNED_EXAMPLE, env={**ENV, "ALERTING_COUNTY_WEBHOOK_SECRET": SECRET})
    hook = policy.channels["county_webhook"]
    assert isinstance(hook, WebhookChannel)
    assert hook.signing_key() == b"county-webhook-signing-key-32-by"
    assert SECRET not in repr(policy) and SECRET not in str(hook)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("county-webhook-signing-key-32-by", "must start with whsec_"),
        ("WHSEC_" + SECRET.removeprefix("whsec_"), "must start with whsec_"),
        ("whsec_not base64 at all!", "followed by standard base64"),
        ("whsec_" + SECRET.removeprefix("whsec_").rstrip("="), "followed by standard base64"),
        ("whsec_", "of 24 to 64 bytes, not 0"),
        ("whsec_" + base64.b64encode(b"k" * 23).decode(), "of 24 to 64 bytes, not 23"),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), "of 24 to 64 bytes, not 65"),
    ],
)
def test_a_malformed_secret_stops_start_up_naming_the_key(secret: str, reason: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(SIGNED_EXAMPLE, env={**ENV, "ALERTING_COUNTY_WEBHOOK_SECRET": secret})
    err = info.value
    assert err.key == "channels.county_webhook.webhook.secret"
    assert reason in err.reason
    assert err.line == SIGNED_EXAMPLE.splitlines().index(COMMENTED.removeprefix("# ")) + 1
    if secret.removeprefix("whsec_"):
        assert secret.removeprefix("whsec_") not in str(err)


def test_an_unset_secret_variable_names_the_key() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(SIGNED_EXAMPLE, env=ENV)
    assert info.value.key == "channels.county_webhook.secret"
    assert "ALERTING_COUNTY_WEBHOOK_SECRET" in info.value.reason


def test_a_secret_is_refused_by_other_channel_types() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(
            EXAMPLE
            + f'\n[channels.sms]\ntype = "sms"\nurl = "http://127.0.0.1:9/sms"\nsecret = "{SECRET}"\n',
            env=ENV,
        )
    assert info.value.key == "channels.sms.sms.secret"
