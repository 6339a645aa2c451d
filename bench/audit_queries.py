"""The auditors' reads through the HTTP API in this process (the Service's ASGI app over httpx's ASGI
transport, an auditor's token): entries with filters, first and deep pages; totals over a year; the
quarterly bulletin and year-end ranking drafts. Each case has a time budget: a slow product shows as
fewer requests (or "timed out"), never as a benchmark that does not end."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.audit_seed import Seeded
from bench.common import log, summary_ms, utcnow
from bench.services import Env

ENTRIES = "/api/v1/accountability"
YEAR = ("2025-01-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00")
QUARTER = ("2025-10-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00")
DEEP = 5_000  # a deep page: ~50 pages of 100 in (reached with pages of 1,000)


def entry_cases(township: str) -> list[tuple[str, dict[str, str]]]:
    """The filters auditors combine (the first three without a period, the last two with one)."""
    return [
        ("township", {"township": township}),
        ("township+kind", {"township": township, "kind": "late_report"}),
        ("kind+status", {"kind": "late_report", "status": "confirmed"}),
        ("status+quarter 2025-Q4", {"status": "pending", "since": QUARTER[0], "until": QUARTER[1]}),
        ("township+year 2025", {"township": township, "since": YEAR[0], "until": YEAR[1]}),
    ]


@dataclass
class Timed:
    """Requests of one case: each one's seconds; whether the budget ran out; what failed."""

    seconds: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)  # the warm-up requests'
    timed_out: bool = False
    error: str | None = None
    note: str = ""

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = summary_ms(self.seconds) if self.seconds else {"count": 0}
        cold = [round(s * 1000, 1) for s in self.cold]
        return {**out, "cold_ms": cold, "timed_out": self.timed_out, "error": self.error, "note": self.note}


@contextlib.asynccontextmanager
async def api_client(env: Env, seeded: Seeded) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The Service (API only: no consumer, deadlines or delivery) in this process on the seeded
    database with the seeded policy; a client with an auditor's token."""
    from alerting.app.service import Service
    from alerting.clock import SystemClock
    from alerting.domain import Role
    from alerting.tokens import create
    from bench.audit_seed import load_policy

    policy = load_policy(seeded.policy_path, env.receiver.hook_url)
    service = Service(env.settings(seeded.url, components="api"), policy, SystemClock())
    await service.start()
    try:
        async with service.engine.begin() as conn:
            token = await create(conn, name="bench-auditor", role=Role.AUDITOR, township=None, now=utcnow())
        transport = httpx.ASGITransport(app=service.app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers=headers, timeout=None
        ) as client:
            yield client, service
    finally:
        await service.stop()


async def _get(client: httpx.AsyncClient, path: str, params: dict[str, str]) -> Any:
    answer = await client.get(path, params=params)
    if answer.status_code != 200:
        raise AssertionError(f"{path} {params} answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()


async def timed(requests: int, budget: float, one: Callable[[int], Any], warmup: int = 2) -> Timed:
    """`one(i)` `warmup` times untimed, then up to `requests` times timed, all within `budget` seconds."""
    out = Timed()
    deadline = time.monotonic() + budget
    try:
        for i in range(warmup + requests):
            async with asyncio.timeout(max(0.001, deadline - time.monotonic())):
                t0 = time.perf_counter()
                await one(i)
                elapsed = time.perf_counter() - t0
            (out.seconds if i >= warmup else out.cold).append(elapsed)
            if time.monotonic() >= deadline:
                out.timed_out = len(out.seconds) < requests
                break
    except TimeoutError:
        out.timed_out = True
    except AssertionError as exc:
        out.error = str(exc)[:300]
    return out


async def deep_cursor(
    client: httpx.AsyncClient, params: dict[str, str], budget: float
) -> tuple[str | None, int]:
    """The next_cursor at about DEEP entries into the result (or half way, for a shorter one); and the
    position reached."""
    cursors: list[tuple[int, str]] = []
    cursor: str | None = None
    seen = 0
    async with asyncio.timeout(budget):
        while seen < DEEP:
            limit = "100" if seen < 1000 else "1000"  # pages of 100 first: a short result has cursors too
            page = await _get(
                client, ENTRIES, {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
            )
            seen += len(page["entries"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
            cursors.append((seen, cursor))
    if cursor is not None:
        return cursor, seen
    if not cursors:
        return None, seen
    position, middle = cursors[(len(cursors) - 1) // 2]
    return middle, position


async def warm(client: httpx.AsyncClient, township: str, limit_s: float) -> float | None:
    """One untimed request first (the first case's first page): after the machine settled, the log's
    pages are on disk, and the first reads would otherwise count against the first case. Its seconds
    (None: no answer within `limit_s`)."""
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(limit_s):
            await _get(client, ENTRIES, entry_cases(township)[0][1])
    except TimeoutError:
        return None
    return time.perf_counter() - t0


async def entries(client: httpx.AsyncClient, township: str, requests: int, budget: float) -> dict[str, Any]:
    """Each case: the first page (limit 100), and pages of 100 following next_cursor from a deep
    position (back to that position when the result ends)."""
    results: dict[str, Any] = {}
    for name, params in entry_cases(township):
        first = await timed(requests, budget, lambda _i, p=params: _get(client, ENTRIES, p))
        deep = Timed()
        t0 = time.monotonic()
        try:
            start, position = await deep_cursor(client, params, budget)
        except TimeoutError:
            start, position, deep.timed_out = None, 0, True
            deep.note = f"no deep position reached within {budget:g} s"
        except AssertionError as exc:
            start, position, deep.error = None, 0, str(exc)[:300]
        if start is not None:
            state = {"cursor": start, "start": start}

            async def next_page(_i: int, p: dict[str, str] = params, s: dict[str, Any] = state) -> None:
                page = await _get(client, ENTRIES, {**p, "cursor": s["cursor"]})
                s["cursor"] = page["next_cursor"] or s["start"]

            deep = await timed(requests, max(1.0, budget - (time.monotonic() - t0)), next_page)
            deep.note = f"from entry ~{position:,} on"
        elif not deep.note and deep.error is None:
            deep.note = "the result has a single page"
        results[name] = {"first": first.figures(), "deep": deep.figures(), "params": params, "cursor": start}
        log(f"auditors entries {name}: first {results[name]['first']}, deep {results[name]['deep']}")
    return results


async def totals(client: httpx.AsyncClient, requests: int, budget: float) -> dict[str, Any]:
    params = {"since": YEAR[0], "until": YEAR[1]}
    shape: dict[str, Any] = {}

    async def one(_i: int) -> None:
        body = await _get(client, f"{ENTRIES}/totals", params)
        shape.update(total=body["total"], townships=len(body["by_township"]), kinds=len(body["by_kind"]))

    result = (await timed(requests, budget, one, warmup=1)).figures()
    log(f"auditors totals 2025: {result} {shape}")
    return {**result, **shape}


async def bulletins(client: httpx.AsyncClient, requests: int, budget: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, period in (("quarter", "2026-Q3"), ("year", "2025")):
        shape: dict[str, Any] = {}

        async def one(_i: int, period: str = period, shape: dict[str, Any] = shape) -> None:
            body = await _get(client, f"/api/v1/bulletins/{period}", {})
            shape.update(published=body["published"], townships=len(body["townships"]))
            shape["criticisms"] = len(body["criticisms"])

        out[name] = {**(await timed(requests, budget, one, warmup=1)).figures(), "period": period, **shape}
        log(f"auditors bulletin {period}: {out[name]}")
    return out
