"""签收码: the short code an SMS carries instead of a link (providers refuse a URL inside a template
variable, escalation/notify/ack_codes.py). GET /s/{code} leads (303) to that person's own
acknowledgement page /ack/{token}; GET /s shows a small form to type the code.

Guessing: a code is 50 random bits, and this process refuses an address that typed GUESSES unknown
or expired codes within GUESS_WINDOW (429, for the rest of the window): at that pace finding one of
even ten thousand live codes takes longer than the age of the universe. Behind a reverse proxy every
visitor shares its address; the limit is generous enough for an office that mistypes."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.storage.schema import ack_codes
from alerting.web.ack import page
from escalation.notify.ack_codes import normalized

router = APIRouter(tags=["acknowledgement links"])
GUESSES = 20
GUESS_WINDOW = 600.0  # seconds
TRACKED = 10_000  # addresses remembered at most (the oldest forgotten first)

FORM = (
    '<form method="get" action="/s">'
    '<p><label for="code">请输入短信中的签收码 / the code in the SMS</label></p>'
    '<p><input id="code" name="code" autocomplete="off" autocapitalize="characters" spellcheck="false"'
    ' maxlength="20" required></p><button type="submit">打开签收页面</button></form>'
)


class Guesses:
    """Failed lookups per client address, over a sliding window (this process only)."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked(self, address: str, now: float) -> bool:
        times = self._seen.get(address)
        while times and times[0] <= now - GUESS_WINDOW:
            times.popleft()
        return times is not None and len(times) >= GUESSES

    def failed(self, address: str, now: float) -> None:
        self._seen.setdefault(address, deque()).append(now)
        self._seen.move_to_end(address)
        while len(self._seen) > TRACKED:
            self._seen.popitem(last=False)


def _guesses(request: Request) -> Guesses:
    """This application's record (one per process, as the app is; a test's app has its own)."""
    state = request.app.state
    if not hasattr(state, "ack_code_guesses"):
        state.ack_code_guesses = Guesses()
    guesses: Guesses = state.ack_code_guesses
    return guesses


def _refused(title: str, why: str, status: int) -> HTMLResponse:
    return page(title, f"<p>{escape(why)}</p>{FORM}", status=status)


async def _lookup(request: Request, ctx: ServiceContext, typed: str) -> Response:
    address = request.client.host if request.client else "?"
    guessed = _guesses(request)
    if guessed.blocked(address, time.monotonic()):
        why = "尝试次数过多，请 10 分钟后再试 / too many tries: try again in 10 minutes"
        return page("请稍后再试", f"<p>{why}</p>", status=429)
    code = normalized(typed)
    row = None
    if code is not None:
        async with reading(ctx.engine) as conn:
            row = (
                await conn.execute(
                    select(ack_codes.c.token, ack_codes.c.expires_at).where(ack_codes.c.code == code)
                )
            ).one_or_none()
    if row is None:
        guessed.failed(address, time.monotonic())
        return _refused("签收码无效", "签收码无效，请核对短信中的签收码 / unknown code: check the SMS", 404)
    if ctx.clock.now() >= row.expires_at:
        guessed.failed(address, time.monotonic())
        return _refused("签收码已过期", "签收码已过期 / the code has expired", 410)
    return RedirectResponse(f"/ack/{row.token}", status_code=303, headers={"Cache-Control": "no-store"})


ANSWERS: dict[int | str, dict[str, Any]] = {
    303: {"description": "to the acknowledgement page / 转到签收页面"},
    404: {"description": "unknown code / 签收码无效"},
    410: {"description": "expired code / 签收码已过期"},
    429: {"description": "too many unknown codes from this address / 尝试次数过多"},
}


@router.get(
    "/s",
    response_class=HTMLResponse,
    responses=ANSWERS,
    summary="输入签收码 / type an acknowledgement code",
)
async def form(
    request: Request,
    code: str | None = Query(default=None, max_length=40),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    if code:
        return await _lookup(request, ctx, code)
    return page("紧急信息签收", FORM)


@router.get(
    "/s/{code}",
    response_class=HTMLResponse,
    responses=ANSWERS,
    summary="签收码 / an acknowledgement code",
)
async def by_code(
    request: Request,
    code: str = Path(min_length=1, max_length=40),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    return await _lookup(request, ctx, code)
