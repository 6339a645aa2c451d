"""Deadline firing on the SystemClock: lateness with 10,000 and 100,000 pending deadlines (never early),
and a burst of 10,000 deadlines due at the same instant.

Rows are seeded straight into the deadlines table (with their incidents), as intake arms them; the
whole Service runs in this process (consumer idle, delivery sending to the local receiver), so the
deadline loop competes with notification delivery as it does in production. Lateness per round is
escalations.fired_at - scheduled_for (fired_at is the tick's `now`); wall-clock lateness is when that
tick's transaction had committed, minus scheduled_for."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.common import SEED_KINDS, Result, Row, log, summary_ms, until, utcnow
from bench.seeding import far_future, seed, seeded_escalations, spread
from bench.services import Env, TickLog, service_running, wait_ticks

P99_TARGET_MS = 50.0
BURST_TARGET_S = 1.0
# From seeding to the first due deadline: covers the service's start-up (well under a second here;
# each figure records how long before the first due time the service was ready).
LEAD = timedelta(seconds=4)
QUICK_LEAD = timedelta(seconds=2)


async def lateness(
    env: Env,
    backend: str,
    pending: int,
    due: int,
    window: timedelta,
    during: Callable[[Any], contextlib.AbstractAsyncContextManager[Any]] | None = None,
    around: Callable[[str], contextlib.AbstractAsyncContextManager[Any]] | None = None,
) -> dict[str, Any]:
    """`pending` deadlines in the table, of which `due` fall due evenly over `window`; the rest stay
    pending (due 1-25 h ahead). Returns the lateness figures of the `due` first rounds. `during`, given
    the running service, is a load kept up while the deadlines fall due; `around`, given the database,
    one started before the service (bench/board.py's boards, in this process or in another)."""
    url = await env.database(backend, f"firing_{pending}_{backend}")
    prefix = f"F{uuid.uuid4().hex[:6]}"
    t = time.perf_counter()
    await seed(url, far_future(pending - due), f"{prefix}P")
    async with around(url) if around else contextlib.nullcontext():
        return await _timed(env, backend, url, prefix, pending, due, window, t, during)


async def _timed(
    env: Env,
    backend: str,
    url: str,
    prefix: str,
    pending: int,
    due: int,
    window: timedelta,
    t: float,
    during: Callable[[Any], contextlib.AbstractAsyncContextManager[Any]] | None,
) -> dict[str, Any]:
    start = utcnow() + (QUICK_LEAD if env.quick else LEAD)
    await seed(url, spread(start, window, due), prefix)
    log(f"firing {backend}: seeded {pending} pending deadlines in {time.perf_counter() - t:.1f} s")
    ticks = TickLog()
    async with service_running(env, url, ticks=ticks) as service:
        await wait_ticks(service, 1)
        async with during(service) if during else contextlib.nullcontext():
            ready_before_s = (start - utcnow()).total_seconds()
            end = start + window
            await asyncio.sleep(max(0.0, (end - utcnow()).total_seconds()))
            await until(lambda: _escalations(service) >= due, 120, f"{due} escalations", every=0.1)
        tick_count = service.deadlines.ticks
    rows = [r for r in await seeded_escalations(url, prefix) if r.round == 0]
    if len(rows) != due:
        raise AssertionError(f"{len(rows)} first rounds for {due} due deadlines")
    late = [(r.fired_at - r.scheduled_for).total_seconds() for r in rows]
    wall = [ticks.done_at[r.fired_at] - r.scheduled_for.timestamp() for r in rows]
    early = sum(1 for r in rows if r.fired_at < r.scheduled_for)
    figures = summary_ms(late)
    wall_figures = summary_ms(wall)
    return {
        "pending": pending,
        "due": due,
        "window_s": window.total_seconds(),
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "max_ms": figures["max_ms"],
        "early": early,
        "wall_p50_ms": wall_figures["p50_ms"],
        "wall_p99_ms": wall_figures["p99_ms"],
        "wall_max_ms": wall_figures["max_ms"],
        "ticks": tick_count,
        "service_ready_s_before_first_due": round(ready_before_s, 2),
    }


def _escalations(service: Any) -> float:
    """Escalations this service fired of the seeded kinds (from its own metrics, no database query)."""
    registry = service.metrics.registry
    return sum(
        registry.get_sample_value("alerting_escalations_total", {"kind": k}) or 0.0 for k in SEED_KINDS
    )


async def burst(env: Env, backend: str, n: int) -> dict[str, Any]:
    """n deadlines due at the same instant: time from that instant until the last is escalated."""
    url = await env.database(backend, f"burst_{backend}")
    prefix = f"B{uuid.uuid4().hex[:6]}"
    at = (utcnow() + (QUICK_LEAD if env.quick else LEAD)).replace(microsecond=0) + timedelta(seconds=1)
    await seed(url, [at] * n, prefix)
    ticks = TickLog()
    async with service_running(env, url, ticks=ticks) as service:
        await wait_ticks(service, 1)
        await asyncio.sleep(max(0.0, (at - utcnow()).total_seconds()))
        # Polled rarely (a registry read costs the service's loop time); the figure comes from the
        # commit time of the tick that wrote the last escalation, not from this poll.
        await until(lambda: _escalations(service) >= n, 300, f"{n} burst escalations", every=0.1)
    rows = [r for r in await seeded_escalations(url, prefix) if r.round == 0]
    if len(rows) != n:
        raise AssertionError(f"{len(rows)} first rounds for {n} burst deadlines")
    last = max(r.fired_at for r in rows)
    return {
        "deadlines": n,
        "all_escalated_s": round(ticks.done_at[last] - at.timestamp(), 3),
        "last_tick_now_s": round((last - at).total_seconds(), 3),
        "early": sum(1 for r in rows if r.fired_at < r.scheduled_for),
        "first_tick_late_ms": round((min(r.fired_at for r in rows) - at).total_seconds() * 1000, 3),
    }


async def run(env: Env) -> Result:
    result = Result()
    # (pending, due, window): lateness at a steady 10 due/s, which the service keeps up with, at each
    # pending size; then the same at 100 due/s ("under load"), where queueing behind delivery shows.
    if env.quick:
        scenarios, burst_n = [(10_000, 20, 2.0, "")], 500
    else:
        scenarios = [(10_000, 300, 30.0, ""), (100_000, 300, 30.0, ""), (100_000, 2000, 20.0, ", under load")]
        burst_n = 10_000
    result.details["method"] = (
        "of the pending deadlines, `due` fall due evenly over `window_s`, the rest 1-25 h ahead; lateness "
        "of their first round = fired_at - scheduled_for (the tick's now); wall = the time that tick had "
        "committed - scheduled_for"
    )
    cal = env.calibration
    for backend in env.slow_backends:
        for pending, due, window, label in scenarios:
            figures = await lateness(env, backend, pending, due, timedelta(seconds=window))
            rate = due / window
            log(
                f"firing {backend} {pending:,} pending, {rate:g} due/s: p50 {figures['p50_ms']} ms, "
                f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms, early {figures['early']}, "
                f"wall p99 {figures['wall_p99_ms']} ms"
            )
            key = f"{backend}_{pending}" + ("_loaded" if label else "")
            result.details[key] = figures
            for name in ("p50_ms", "p99_ms", "max_ms", "early", "wall_p99_ms"):
                result.figures[f"{key}_{name}"] = figures[name]
            p99_ref = cal.time_at_reference(figures["p99_ms"])
            result.figures[f"{key}_p99_ms_at_reference"] = round(p99_ref, 3)
            result.rows.append(
                Row(
                    f"firing {backend}, {pending:,} pending, {rate:g} due/s{label}: lateness",
                    f"p50 {figures['p50_ms']:.1f} / p99 {figures['p99_ms']:.1f} / "
                    f"max {figures['max_ms']:.1f} ms (wall p99 {figures['wall_p99_ms']:.1f}); "
                    f"early {figures['early']}",
                    f"p99 ≤ {P99_TARGET_MS:g} ms, never early",
                    figures["p99_ms"] <= P99_TARGET_MS and figures["early"] == 0,
                    f"p99 {p99_ref:.1f} ms",
                    p99_ref <= P99_TARGET_MS and figures["early"] == 0,
                )
            )
        b = await burst(env, backend, burst_n)
        log(f"burst {backend}: {burst_n:,} due at once, all escalated after {b['all_escalated_s']} s")
        result.details[f"{backend}_burst"] = b
        result.figures[f"{backend}_burst_{burst_n}_s"] = b["all_escalated_s"]
        result.figures[f"{backend}_burst_early"] = b["early"]
        burst_ref = cal.time_at_reference(b["all_escalated_s"])
        result.figures[f"{backend}_burst_{burst_n}_s_at_reference"] = round(burst_ref, 3)
        result.rows.append(
            Row(
                f"burst {backend}: {burst_n:,} due in the same second",
                f"all escalated in {b['all_escalated_s']:.2f} s; early {b['early']}",
                "10,000 within 1 s",
                b["all_escalated_s"] <= BURST_TARGET_S and b["early"] == 0,
                f"{burst_ref:.2f} s",
                burst_ref <= BURST_TARGET_S and b["early"] == 0,
            )
        )
    return result
