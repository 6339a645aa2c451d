"""Memory per pending deadline: RSS delta of the service process over N pending deadlines, divided,
beside the same figure for APScheduler 3 date jobs (memory job store), measured in the same run.

Each side runs in a fresh interpreter of its own (`python -m bench.memory service|apscheduler ...`)
so neither inherits the other's heap. The service side starts the whole Service, waits for its first
deadline tick, takes RSS after gc.collect(), has N pending deadlines armed in its database by another
process (as other replicas or intake would), wakes the deadline loop twice, waiting for its tick each
time (the first also recounts the pending gauge), and takes RSS again after gc.collect()."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import ROOT, Result, Row, log, rss_bytes
from bench.services import Env

APSCHEDULER_CLAIM = 1.1 * 1024  # docs/DESIGN.md: "APScheduler's ~1.1 KB per job"


def _settle() -> int:
    for _ in range(3):
        gc.collect()
    time.sleep(0.2)
    return rss_bytes()


async def _service_side(url: str, n: int, bootstrap: str, hook: str) -> dict[str, Any]:
    from alerting.app.service import Service
    from alerting.clock import SystemClock
    from alerting.policy.loader import load_policy
    from bench.services import service_settings, wait_ticks

    policy = load_policy(ROOT / "deploy/policy.example.toml", {"ALERTING_COUNTY_WEBHOOK_URL": hook})
    service = Service(service_settings(url, bootstrap), policy, SystemClock())
    await service.start()
    try:
        await wait_ticks(service, 1)
        await asyncio.sleep(1.0)  # let start-up allocations settle
        before = _settle()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.seeding", "seed", url, "--count", str(n), "--prefix", "MEM",
            cwd=ROOT, stdout=subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"seeding failed with {proc.returncode}")
        seeded = json.loads(out)["seeded"]
        ticks = service.deadlines.ticks
        service._gauge_at = None  # the next tick recounts the pending gauge (instrumentation only)
        for k in (1, 2):
            service.deadlines.poke()
            await wait_ticks(service, ticks + k)
        after = _settle()
        next_fire = await _next_fire(service)
    finally:
        await service.stop()
    return {"pending": seeded, "rss_before": before, "rss_after": after, "next_fire_at": next_fire}


async def _next_fire(service: Any) -> str | None:
    from escalation.engine import next_fire_at

    async with service.engine.connect() as conn:
        at = await next_fire_at(conn)
    return at.isoformat() if at else None


def _noop(_deadline_id: int) -> None:
    pass


async def _apscheduler_side(n: int) -> dict[str, Any]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    # One job first, so that the job store, executor and trigger classes are loaded before measuring.
    base = datetime.now(UTC) + timedelta(hours=1)
    scheduler.add_job(_noop, "date", run_date=base, args=(-1,), id="warm-up")
    await asyncio.sleep(0.2)
    before = _settle()
    for i in range(n):
        scheduler.add_job(
            _noop, "date", run_date=base + timedelta(seconds=86400 * i / n), args=(i,), id=f"deadline:{i}"
        )
        if i % 1000 == 0:
            await asyncio.sleep(0)  # let the scheduler's wake-ups run, as in a live process
    await asyncio.sleep(0.2)
    after = _settle()
    jobs = len(scheduler.get_jobs())
    scheduler.shutdown(wait=False)
    return {"pending": jobs - 1, "rss_before": before, "rss_after": after}


def _child(args: list[str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.memory", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        timeout=timeout,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    return dict(json.loads(proc.stdout.decode().strip().splitlines()[-1]))


async def run(env: Env) -> Result:
    n = 10_000 if env.quick else 100_000
    result = Result(details={"pending": n, "method": __doc__.split("\n\n")[1].replace("\n", " ")})
    aps = await asyncio.to_thread(_child, ["apscheduler", "--count", str(n)], 600)
    aps_per = (aps["rss_after"] - aps["rss_before"]) / aps["pending"]
    result.details["apscheduler"] = aps
    result.figures["apscheduler_bytes_per_job"] = round(aps_per, 1)
    log(f"memory: APScheduler {aps_per:,.0f} B per date job ({aps['pending']:,} jobs)")
    per_backend: dict[str, float] = {}
    for backend in env.slow_backends:
        url = await env.database(backend, f"memory_{backend}")
        side = await asyncio.to_thread(
            _child,
            [
                "service",
                url,
                "--count",
                str(n),
                "--bootstrap",
                env.bootstrap,
                "--hook",
                env.receiver.hook_url,
            ],
            900,
        )
        per = (side["rss_after"] - side["rss_before"]) / side["pending"]
        per_backend[backend] = per
        result.details[backend] = side
        result.figures[f"{backend}_bytes_per_deadline"] = round(per, 2)
        result.figures[f"{backend}_rss_delta_bytes"] = side["rss_after"] - side["rss_before"]
        log(
            f"memory {backend}: service {per:,.1f} B per pending deadline "
            f"(RSS delta over {side['pending']:,})"
        )
        result.rows.append(
            Row(
                f"memory {backend}: per pending deadline, {side['pending']:,} pending",
                f"{per:,.1f} B (RSS Δ {(side['rss_after'] - side['rss_before']) / 1024:,.0f} KiB);"
                f" APScheduler {aps_per:,.0f} B/job",
                "well under APScheduler (≤ 1/10)",
                per <= aps_per / 10,
            )
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    sub = parser.add_subparsers(dest="side", required=True)
    svc = sub.add_parser("service")
    svc.add_argument("url")
    svc.add_argument("--count", type=int, required=True)
    svc.add_argument("--bootstrap", required=True)
    svc.add_argument("--hook", required=True)
    aps = sub.add_parser("apscheduler")
    aps.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    if args.side == "service":
        out = asyncio.run(_service_side(args.url, args.count, args.bootstrap, args.hook))
    else:
        out = asyncio.run(_apscheduler_side(args.count))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
