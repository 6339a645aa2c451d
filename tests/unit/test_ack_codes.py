"""签收码: the codes the outbox stage issues for the cloud SMS channels (escalation/notify/ack_codes.py),
stable across retries, and GET /s/{code} leading to the person's own acknowledgement page
(alerting/web/short_links.py), an unknown or expired code refused in Chinese and English."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.clock import FakeClock
from alerting.links import AckLinks, expires_of, token_of
from alerting.web import short_links
from escalation.notify import ack_codes
from tests.support import migrated_engine
from tests.unit.test_integrations import payload

T0 = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
LINKS = AckLinks(b"0123456789abcdef-test-secret", "https://county.example", timedelta(hours=24))


def linked() -> dict[str, Any]:
    people = payload()["recipients"]
    people[0]["ack_url"] = LINKS.url("inc-7", "李四", "duty_officer", T0)
    people[1]["ack_url"] = None
    return payload(recipients=people)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(f"sqlite+aiosqlite:///{tmp_path / 'alerting.db'}") as e:
        yield e


def test_a_code_is_ten_characters_of_crockford_base32_and_typed_leniently() -> None:
    codes = {ack_codes.new_code() for _ in range(200)}
    assert len(codes) == 200 and all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{10}", c) for c in codes)
    assert len(ack_codes.ALPHABET) ** 10 >= 2**50
    assert ack_codes.normalized(" 7k3m-9qw2 xp ") == "7K3M9QW2XP"
    assert ack_codes.normalized("OIL3M9QW2X") == "0113M9QW2X"
    assert ack_codes.normalized("7K3M9QW2XU") is None and ack_codes.normalized("7K3") is None


def test_the_token_and_its_expiry_are_read_from_the_link() -> None:
    url = LINKS.url("inc-7", "李四", "duty_officer", T0)
    token = token_of(url)
    assert token is not None and url.endswith(f"/ack/{token}")
    assert expires_of(token) == T0 + timedelta(hours=24)
    assert token_of("https://x/other/abc") is None and expires_of("garbage") is None


async def test_codes_are_issued_once_and_the_same_on_every_retry(engine: AsyncEngine) -> None:
    first = await ack_codes.with_ack_codes(engine, 41, linked(), T0)
    again = await ack_codes.with_ack_codes(engine, 41, linked(), T0 + timedelta(minutes=5))
    other = await ack_codes.with_ack_codes(engine, 42, linked(), T0)
    code = first["recipients"][0]["ack_code"]
    assert again["recipients"][0]["ack_code"] == code != other["recipients"][0]["ack_code"]
    assert "ack_code" not in first["recipients"][1]  # no link, no code
    assert first["text"] == linked()["text"]


async def test_settled_numbers_are_marked_for_the_next_attempt(engine: AsyncEngine) -> None:
    await ack_codes.record_settled(engine, 41, {"13800000001": "sent"}, T0)
    await ack_codes.record_settled(engine, 41, {"13800000001": "sent"}, T0)  # a repeat changes nothing
    marked = await ack_codes.with_ack_codes(engine, 41, linked(), T0)
    assert [r.get("sms_settled") for r in marked["recipients"]] == ["sent", None]
    assert "sms_settled" not in (await ack_codes.with_ack_codes(engine, 42, linked(), T0))["recipients"][0]


def test_only_the_cloud_sms_channels_need_codes() -> None:
    from tests.unit.test_aliyun_sms import channel as aliyun
    from tests.unit.test_integrations import sms_channel
    from tests.unit.test_tencent_sms import channel as tencent

    assert ack_codes.needs_codes(aliyun("https://x")) and ack_codes.needs_codes(tencent("https://x"))
    assert not ack_codes.needs_codes(sms_channel("https://x")) and not ack_codes.needs_codes(None)


async def pages(engine: AsyncEngine, clock: FakeClock) -> httpx.AsyncClient:
    app = FastAPI()
    app.state.context = SimpleNamespace(engine=engine, clock=clock)
    app.include_router(short_links.router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://county.example")


async def test_a_code_leads_to_the_persons_own_page(engine: AsyncEngine) -> None:
    sent = await ack_codes.with_ack_codes(engine, 41, linked(), T0)
    code, url = sent["recipients"][0]["ack_code"], sent["recipients"][0]["ack_url"]
    async with await pages(engine, FakeClock(T0)) as web:
        for path in (f"/s/{code}", f"/s/{code.lower()}", f"/s?code={code[:5]}-{code[5:]}"):
            answer = await web.get(path)
            assert answer.status_code == 303 and answer.headers["location"] == f"/ack/{token_of(url)}"
        form = await web.get("/s")
    assert form.status_code == 200 and 'name="code"' in form.text and "签收码" in form.text


async def test_an_unknown_or_expired_code_is_refused_in_chinese_and_english(engine: AsyncEngine) -> None:
    sent = await ack_codes.with_ack_codes(engine, 41, linked(), T0)
    code = sent["recipients"][0]["ack_code"]
    clock = FakeClock(T0)
    async with await pages(engine, clock) as web:
        unknown = await web.get("/s/ZZZZZZZZZZ")
        malformed = await web.get("/s/not-a-code")
        await clock.advance(timedelta(hours=24))
        expired = await web.get(f"/s/{code}")
    assert unknown.status_code == 404 and "签收码无效" in unknown.text and "unknown code" in unknown.text
    assert malformed.status_code == 404
    assert expired.status_code == 410 and "已过期" in expired.text and "expired" in expired.text
    assert 'name="code"' in unknown.text  # the form again, to type it once more


async def test_guessing_is_refused_after_twenty_misses(engine: AsyncEngine) -> None:
    sent = await ack_codes.with_ack_codes(engine, 41, linked(), T0)
    async with await pages(engine, FakeClock(T0)) as web:
        misses = [(await web.get(f"/s/{n:010d}")).status_code for n in range(short_links.GUESSES)]
        blocked = await web.get(f"/s/{sent['recipients'][0]['ack_code']}")
    assert set(misses) == {404}
    assert blocked.status_code == 429 and "尝试次数过多" in blocked.text and "too many" in blocked.text
