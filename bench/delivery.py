"""Notification delivery: deadline-to-webhook latency with a local receiver in its own process.

Deadlines are seeded due evenly over a window a few seconds ahead; the whole Service runs in this
process; the receiver (bench/receiver.py) notes the wall-clock arrival of each webhook. Latency is
arrival - the deadline's due time (its first round is scheduled at the due time); the Idempotency-Key
(`incident:deadline:round`) names the deadline."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from bench.common import Result, Row, log, summary_ms, until, utcnow
from bench.seeding import seed, seeded_escalations, spread
from bench.services import Env, service_running, wait_ticks

LEAD = timedelta(seconds=3)


async def delivery(env: Env, backend: str, n: int, window: timedelta) -> dict[str, float]:
    url = await env.database(backend, f"delivery_{backend}")
    prefix = f"D{uuid.uuid4().hex[:6]}"
    start = utcnow() + (LEAD / 2 if env.quick else LEAD)
    await seed(url, spread(start, window, n), prefix)
    await env.receiver.reset()
    async with service_running(env, url) as service:
        await wait_ticks(service, 1)
        await asyncio.sleep(max(0.0, (start + window - utcnow()).total_seconds()))

        async def arrived() -> bool:
            return await env.receiver.count() >= n

        await until(arrived, 120, f"{n} webhooks at the receiver", every=0.2)
    rows = {r.deadline_id: r for r in await seeded_escalations(url, prefix) if r.round == 0}
    latencies = []
    for key, at in await env.receiver.arrivals():
        incident, deadline_id, round_ = key.split(":")
        if incident.startswith(prefix) and round_ == "0":
            latencies.append(at - rows[int(deadline_id)].due_at.timestamp())
    if len(latencies) < n:
        raise AssertionError(f"{len(latencies)} of {n} webhooks arrived")
    figures = summary_ms(latencies)
    return {**figures, "deadlines": n, "window_s": window.total_seconds(), "duplicates": len(latencies) - n}


async def run(env: Env) -> Result:
    # 10 deadlines due per second: a steady load the service keeps up with (firing.py has 100/s).
    n, window = (20, timedelta(seconds=2)) if env.quick else (300, timedelta(seconds=30))
    result = Result(details={"method": __doc__.split("\n\n")[1].replace("\n", " ")})
    cal = env.calibration
    for backend in env.slow_backends:
        figures = await delivery(env, backend, n, window)
        log(
            f"delivery {backend}: deadline→webhook p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
            f"max {figures['max_ms']} ms ({n} over {window.total_seconds():g} s)"
        )
        result.details[backend] = figures
        for name in ("p50_ms", "p99_ms", "max_ms"):
            result.figures[f"{backend}_{name}"] = figures[name]
        p99_ref = cal.time_at_reference(figures["p99_ms"])
        result.figures[f"{backend}_p99_ms_at_reference"] = round(p99_ref, 3)
        result.rows.append(
            Row(
                f"delivery {backend}: deadline → webhook, {n:,} over {window.total_seconds():g} s",
                f"p50 {figures['p50_ms']:.1f} / p99 {figures['p99_ms']:.1f} / max {figures['max_ms']:.1f} ms",
                "— (no target)",
                None,
                f"p99 {p99_ref:.1f} ms",
            )
        )
    return result
