"""Restart: time from start-up to all pending deadlines armed, with 100,000 and 1,000,000 pending rows.

The database is first brought up by one start and stop of the service on the empty database (the
migrations, the bulletins a first start publishes, this month's township duties), then the pending
rows are seeded, then the measured start: Service(...) and Service.start() (migrations check, Kafka
producer and consumer, topics, bulletin catch-up) until the deadline loop's first tick is done, which
is when the service knows the earliest due time, the whole of its timer state."""

from __future__ import annotations

import time
import uuid

from bench.common import Result, Row, log
from bench.seeding import far_future, seed
from bench.services import Env, service_running, wait_ticks

TARGET_S = 60.0  # docs/DESIGN.md: re-arming after a restart is "O(pending) in the database, not minutes"


async def restart(env: Env, backend: str, pending: int) -> dict[str, float]:
    url = await env.database(backend, f"restart_{pending}_{backend}")
    async with service_running(env, url) as service:
        await wait_ticks(service, 1)
    t = time.perf_counter()
    await seed(url, far_future(pending), f"R{uuid.uuid4().hex[:6]}")
    seeded_s = time.perf_counter() - t
    t0 = time.perf_counter()
    async with service_running(env, url) as service:
        started = time.perf_counter() - t0
        await wait_ticks(service, 1, within=600)
        armed = time.perf_counter() - t0
    return {
        "pending": pending,
        "armed_s": round(armed, 3),
        "start_s": round(started, 3),
        "first_tick_s": round(armed - started, 3),
        "seed_s": round(seeded_s, 1),
    }


async def run(env: Env) -> Result:
    sizes = [10_000] if env.quick else [100_000, 1_000_000]
    result = Result()
    cal = env.calibration
    for backend in env.backends:
        for pending in sizes:
            figures = await restart(env, backend, pending)
            log(
                f"restart {backend} {pending:,} pending: armed after {figures['armed_s']} s "
                f"(start {figures['start_s']} s, first tick {figures['first_tick_s']} s)"
            )
            result.details[f"{backend}_{pending}"] = figures
            result.figures[f"{backend}_{pending}_armed_s"] = figures["armed_s"]
            result.figures[f"{backend}_{pending}_first_tick_s"] = figures["first_tick_s"]
            armed_ref = cal.time_at_reference(figures["armed_s"])
            result.figures[f"{backend}_{pending}_armed_s_at_reference"] = round(armed_ref, 3)
            result.rows.append(
                Row(
                    f"restart {backend}: {pending:,} pending rows",
                    f"armed {figures['armed_s']:.2f} s (start {figures['start_s']:.2f} + first tick "
                    f"{figures['first_tick_s']:.2f})",
                    "not minutes (< 60 s)",
                    figures["armed_s"] < TARGET_S,
                    f"armed {armed_ref:.2f} s",
                    armed_ref < TARGET_S,
                )
            )
    return result
