"""Ingest: reports/s from Kafka to committed rows with deadlines armed, against aiokafka's raw consume
rate of the same kind of reports from the same broker (the run's calibration; a Python consumer's
ceiling)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

from bench.common import Result, Row, log, utcnow
from bench.seeding import count_rows, reader
from bench.services import Env, worker_heap
from bench.topics import KEY_ID, KEY_SECRET, PARTITIONS, create_topic, produce

TARGET_RATE = 5000.0


async def service_consume(env: Env, url: str, topic: str, n: int, within: float) -> dict[str, float]:
    """The real path: consumers.loop.ReportConsumer, from start until n reports are committed rows."""
    from alerting import producer_keys
    from alerting.clock import SystemClock
    from alerting.metrics import Metrics
    from alerting.storage.engine import create_engine
    from consumers.loop import ReportConsumer
    from consumers.publisher import make_producer

    settings = env.settings(url, kafka_topic=topic, kafka_group_id=f"bench-ingest-{uuid.uuid4().hex[:8]}")
    engine = create_engine(url)
    async with engine.begin() as conn:
        kek = await producer_keys.encryption_key(conn, None)
        key = producer_keys.ProducerKey(KEY_ID, "bench", None, KEY_SECRET)
        await producer_keys.store(conn, key, kek, utcnow())
    probe = reader(url)  # counts committed rows from a connection of its own
    producer = make_producer(settings)
    await producer.start()
    consumer = ReportConsumer(
        settings, engine, env.policy, SystemClock(), producer, Metrics(), on_armed=lambda _at: None
    )
    await consumer.start(kek)
    task: asyncio.Task[None] | None = None
    try:
        from sqlalchemy import func, select

        from alerting.storage.schema import reports

        async def committed() -> int:
            async with probe.connect() as conn:
                return int((await conn.execute(select(func.count()).select_from(reports))).scalar_one())

        with worker_heap():  # the consumer runs in the worker process
            t0 = time.perf_counter()
            task = asyncio.create_task(consumer.run())
            first = half = None
            stored = 0
            while stored < n:
                if time.perf_counter() - t0 > within:
                    raise TimeoutError(f"the consumer stored {stored} of {n} reports in {within:g} s")
                if task.done():
                    task.result()
                    raise RuntimeError("the consumer loop ended")
                await asyncio.sleep(0.05)
                stored = await committed()
                if first is None and stored:
                    first = time.perf_counter() - t0
                if half is None and stored >= n // 2:
                    half = (time.perf_counter() - t0, stored)
            elapsed = time.perf_counter() - t0
    finally:
        consumer.request_stop()
        if task is not None:
            await asyncio.wait_for(task, timeout=30)
        await consumer.stop()
        await producer.stop()
        await engine.dispose()
        await probe.dispose()
    assert half is not None
    return {
        "seconds": elapsed,
        "first_commit_s": first or elapsed,
        # the rate over each half of the reports: does it hold as the tables grow?
        "first_half_per_s": half[1] / half[0],
        "second_half_per_s": (n - half[1]) / (elapsed - half[0]),
    }


async def run(env: Env) -> Result:
    n = 600 if env.quick else int(os.environ.get("BENCH_INGEST_REPORTS", "50000"))
    prefix = f"ING{uuid.uuid4().hex[:6]}"
    topic = f"bench.ingest.{prefix}"
    await create_topic(env.bootstrap, topic, PARTITIONS)
    log(f"ingest: producing {n} reports to {topic} ({PARTITIONS} partitions)")
    t = time.perf_counter()
    await produce(env.bootstrap, topic, n, prefix)
    log(f"ingest: produced in {time.perf_counter() - t:.1f} s")

    result = Result(details={"reports": n, "partitions": PARTITIONS})
    # The ceiling: aiokafka's raw consume of the same kind of reports from the same broker, measured
    # by the run's calibration (bench/calibration.py) rather than once more here.
    cal = env.calibration
    raw_rate = cal.raw_consume_per_s
    result.figures["raw_consume_per_s"] = round(raw_rate, 1)
    result.details["raw_consume"] = "the run's calibration at its start"

    for backend in env.backends:
        url = await env.database(backend, f"ingest_{backend}")
        run = await service_consume(env, url, topic, n, within=600 if not env.quick else 60)
        rate = n / run["seconds"]
        deadlines = await count_rows(url, "deadlines", f"WHERE incident_id LIKE '{prefix}-%'")
        armed = await count_rows(
            url, "incidents", f"WHERE id LIKE '{prefix}-%' AND id IN (SELECT incident_id FROM deadlines)"
        )
        if armed != n:
            raise AssertionError(f"{backend}: {armed} of {n} incidents have deadlines armed")
        ratio = rate / raw_rate
        log(f"ingest {backend}: {rate:,.0f} reports/s ({ratio:.2%} of raw), {deadlines} deadlines armed")
        result.figures[f"{backend}_reports_per_s"] = round(rate, 1)
        result.figures[f"{backend}_ratio_to_raw"] = round(ratio, 4)
        result.figures[f"{backend}_first_commit_s"] = round(run["first_commit_s"], 3)
        result.figures[f"{backend}_first_half_per_s"] = round(run["first_half_per_s"], 1)
        result.figures[f"{backend}_second_half_per_s"] = round(run["second_half_per_s"], 1)
        result.details[f"{backend}_deadlines_armed"] = deadlines
        normalised = cal.rate_at_reference(rate)
        result.figures[f"{backend}_reports_per_s_at_reference"] = round(normalised, 1)
        result.rows.append(
            Row(
                f"ingest {backend}: Kafka → committed rows + deadlines",
                f"{rate:,.0f} reports/s = {ratio:.2%} of raw consume (halves: "
                f"{run['first_half_per_s']:,.0f} then {run['second_half_per_s']:,.0f}/s)",
                f"≥ {TARGET_RATE:,.0f}/s",
                rate >= TARGET_RATE,
                f"{normalised:,.0f} reports/s",
                normalised >= TARGET_RATE,
            )
        )
    return result
