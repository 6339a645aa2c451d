"""Chain verification on the seeded log, each kind in a fresh interpreter (its RSS is the verifier's):
the whole chain with the product's verifier, timed, RSS before/after and peak (VmHWM), and how late
a 10 ms ticker on the event loop ran meanwhile (the hashing must be off the loop); since the last
checkpoint where the product offers it; and hashlib alone over the same canonical bytes (a sample,
scaled) for the ratio.

    python -m bench.audit_verify full|since|hashlib URL [--timeout S] [--sample N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import json
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT

TICK = 0.01


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field}")


async def full_verification(conn: Any) -> Any:
    """The whole chain, as the product verifies it (switch to `alerting audit verify --no-checkpoint`'s
    function here once it exists)."""
    from alerting.accountability.verify import verify_chain

    return await verify_chain(conn)


def since_available() -> bool:
    from alerting.accountability.verify import verify_chain

    return "since_checkpoint" in inspect.signature(verify_chain).parameters


async def since_verification(conn: Any) -> Any:
    from alerting.accountability.verify import verify_chain

    return await verify_chain(conn, since_checkpoint=True)  # type: ignore[call-arg]


async def _ticker(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(time.perf_counter() - t0 - TICK)


async def _verify(url: str, mode: str, limit_s: float) -> dict[str, Any]:
    from dataclasses import asdict

    from alerting.storage.engine import create_engine, reading
    from bench.audit_chain import checkpoint_kind

    engine = create_engine(url)
    try:
        async with reading(engine) as conn:
            out: dict[str, Any] = {"mode": mode}
            if mode == "since" and not since_available():
                return {**out, "available": False}
            await conn.exec_driver_sql("SELECT 1")
            rss_before = _status("VmRSS")
            lags: list[float] = []
            stop = asyncio.Event()
            ticking = asyncio.create_task(_ticker(lags, stop))
            with checkpoint_kind() as shimmed:
                t0 = time.perf_counter()
                try:
                    async with asyncio.timeout(limit_s):
                        report = await (
                            full_verification(conn) if mode == "full" else since_verification(conn)
                        )
                    out["report"] = {k: v for k, v in asdict(report).items() if k != "last_hash"}
                except TimeoutError:
                    out["timed_out"] = True
                out["seconds"] = time.perf_counter() - t0
            stop.set()
            await ticking
            lags.sort()
            out |= {
                "available": True,
                "checkpoint_kind_registered": shimmed,
                "rss_before": rss_before,
                "rss_after": _status("VmRSS"),
                "rss_peak": _status("VmHWM"),
                "loop_lag_p99_ms": round(lags[int(0.99 * (len(lags) - 1))] * 1000, 2) if lags else None,
                "loop_lag_max_ms": round(lags[-1] * 1000, 2) if lags else None,
            }
            return out
    finally:
        await engine.dispose()


async def _hashlib(url: str, sample: int) -> dict[str, Any]:
    """The canonical bytes of the last `sample` entries (built as entry_hash builds them), then
    sha256 over each alone."""
    from sqlalchemy import func, select

    from alerting.accountability.chain import content_of
    from alerting.storage.engine import create_engine, reading
    from alerting.storage.schema import accountability_entries as entries
    from bench.audit_chain import checkpoint_kind

    engine = create_engine(url)
    blobs: list[bytes] = []
    try:
        async with reading(engine) as conn:
            last = int(await conn.scalar(select(func.max(entries.c.id))) or 0)
            after = max(0, last - sample)
            with checkpoint_kind():
                while True:
                    rows = (
                        await conn.execute(
                            select(entries).where(entries.c.id > after).order_by(entries.c.id).limit(5000)
                        )
                    ).all()
                    if not rows:
                        break
                    for row in rows:
                        canonical = json.dumps(
                            content_of(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False
                        )
                        blobs.append(canonical.encode("utf-8"))
                    after = rows[-1].id
    finally:
        await engine.dispose()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for blob in blobs:
            hashlib.sha256(blob).hexdigest()
        best = min(best, time.perf_counter() - t0)
    return {
        "mode": "hashlib",
        "entries": len(blobs),
        "bytes": sum(len(b) for b in blobs),
        "seconds": best,
        "per_entry_us": best / max(1, len(blobs)) * 1e6,
    }


def run(mode: str, url: str, timeout: float, sample: int = 1_000_000) -> dict[str, Any]:
    """One mode in a fresh interpreter; its JSON answer."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.audit_verify",
            mode,
            url,
            "--timeout",
            str(timeout),
            "--sample",
            str(sample),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        timeout=timeout + 600,
        check=True,
    )
    return dict(json.loads(proc.stdout.decode().strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_verify")
    parser.add_argument("mode", choices=("full", "since", "hashlib"))
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--sample", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if args.mode == "hashlib":
        answer = asyncio.run(_hashlib(args.url, args.sample))
    else:
        answer = asyncio.run(_verify(args.url, args.mode, args.timeout))
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
