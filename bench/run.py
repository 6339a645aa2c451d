"""Run the benchmarks, print a table (figure, target from docs/DESIGN.md, met or not) and write JSON.

    .venv/bin/python -m bench.run [--quick] [--only ingest,firing,...] [--json bench/results/latest.json]

Starts what it needs (a Kafka broker of its own on 127.0.0.1:39092, a webhook receiver, fresh SQLite
files and PostgreSQL databases on the local server at 127.0.0.1:55432) and stops it all at the end.
`--quick` runs every measurement on small numbers in under a minute: it checks that the benchmark
works, not the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import calibration
from bench.calibration import Calibration, Calibrator
from bench.common import BACKENDS, ROOT, Result, Row, jsonable, log, utcnow
from bench.services import Env

MEASUREMENTS = (
    "ingest",
    "firing",
    "memory",
    "restart",
    "http_intake",
    "delivery",
    "board",
    "digests",
    "auditors",
)
# Seconds a measurement may take (quick, full); the auditors' seeds and walks ten years of a province.
TIMEOUTS = {"auditors": (240, 4 * 3600)}
DEFAULT_TIMEOUT = (90, 1800)
MODULES = {"http": "http_intake", "http_intake": "http_intake", **{m: m for m in MEASUREMENTS}}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, under a minute (CI)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(MEASUREMENTS)}")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench/results/latest.json", help="where to write the results"
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="sqlite,postgresql (default both) where both apply"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (databases, logs)")
    parser.add_argument(
        "--reseed", action="store_true", help="seed the cached data sets (the auditors' log) again"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a pyinstrument profile of each measurement run in this process to DIR "
        "(pip install pyinstrument; the figures are then slower than without)",
    )
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.only.split(",")] if args.only else list(MEASUREMENTS)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}")
    args.names = list(dict.fromkeys(MODULES[n] for n in names))
    args.backend_list = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not args.backend_list or any(b not in BACKENDS for b in args.backend_list):
        parser.error(f"--backends takes {', '.join(BACKENDS)}")
    return args


def verdict(row: Row) -> str:
    """met / NOT met at this run's calibration, and at the reference where that differs."""
    if row.met is None:
        return "—"
    text = "met" if row.met else "NOT met"
    if row.met_at_reference is not None and row.met_at_reference != row.met:
        text += f" ({'met' if row.met_at_reference else 'NOT met'} at reference)"
    return text


def table(rows: list[Row]) -> str:
    cells = [["measurement", "figure", "at reference", "target (docs/DESIGN.md)", "met"]]
    for r in rows:
        cells.append([r.measurement, r.figure, r.at_reference or "—", r.target, verdict(r)])
    widths = [max(_width(c[i]) for c in cells) for i in range(len(cells[0]))]
    lines = []
    for n, c in enumerate(cells):
        lines.append("  ".join(_pad(v, w) for v, w in zip(c, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)  # CJK takes two columns


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


@contextlib.asynccontextmanager
async def _profiled(directory: Path | None, name: str) -> AsyncIterator[None]:
    """Profile this process (wall clock, awaits attributed to their callers) while the block runs."""
    if directory is None:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001, async_mode="enabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        _write_profile(profiler, directory, name)


def _write_profile(profiler: Any, directory: Path, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    (directory / f"{name}.html").write_text(profiler.output_html())
    log(f"profile of {name} in {directory}/{name}.txt and .html")


async def _main(args: argparse.Namespace) -> int:
    env = Env(quick=args.quick, backends=args.backend_list, keep=args.keep, reseed=args.reseed)
    started = utcnow()
    t0 = time.perf_counter()
    measurements: dict[str, Any] = {}
    rows: list[Row] = []
    end: Calibration | None = None
    try:
        await asyncio.to_thread(env.start)
        calibrator = Calibrator(env)
        if not args.quick:
            await env.settle()
        async with asyncio.timeout(120 if args.quick else 600):
            env.calibration = await calibrator.measure()
        print(env.calibration.line(), flush=True)  # first, so that a run cut short still says it
        log(env.calibration.line())
        failed = await _measure(env, args, measurements, rows)
        end = await _calibrate_again(env, calibrator)
    finally:
        await env.close()
    start = env.calibration
    if args.quick:  # small numbers on a cold start: the figures say the benchmark works, nothing more
        rows = [replace(r, met=None, met_at_reference=None) for r in rows]
    document = {
        "started_at": started.isoformat(),
        "seconds": round(time.perf_counter() - t0, 1),
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "calibration": {
            "start": start.as_json(),
            "end": end.as_json() if end else None,
            "drift": calibration.drift(start, end) if end else None,
            "reference": calibration.reference_json(),
        },
        "backends": args.backend_list,
        "measurements": measurements,
        "table": [r.__dict__ for r in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(jsonable(document), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    print()
    print(f"run of {started:%Y-%m-%d %H:%M} UTC")
    print("\n".join(calibration.header(start, end)))
    print()
    print(table(rows))
    if args.quick:
        print("\nquick run: small numbers, not comparable with the targets (not judged)")
    print(f"\n{'quick run' if args.quick else 'run'} took {document['seconds']} s; results in {args.json}")
    return 1 if failed else 0


async def _measure(env: Env, args: argparse.Namespace, measurements: dict[str, Any], rows: list[Row]) -> bool:
    """Run each measurement in turn, noting its figures and rows; True if any failed."""
    failed = False
    for name in args.names:
        module = importlib.import_module(f"bench.{name}")
        if not args.quick:
            await env.settle()
        log(f"== {name}")
        t = time.perf_counter()
        try:
            limit = TIMEOUTS.get(name, DEFAULT_TIMEOUT)[0 if args.quick else 1]
            async with asyncio.timeout(limit), _profiled(args.profile, name):
                result: Result = await module.run(env)
        except Exception as exc:
            failed = True
            traceback.print_exc()
            measurements[name] = {"error": f"{type(exc).__name__}: {exc}"}
            first_line = (str(exc).splitlines() or [""])[0]
            rows.append(Row(name, f"FAILED: {type(exc).__name__}: {first_line}"[:100], "", False))
            continue
        finally:
            gc.collect()
        measurements[name] = {
            "figures": result.figures,
            "details": result.details,
            "seconds": round(time.perf_counter() - t, 1),
        }
        rows.extend(result.rows)
    return failed


async def _calibrate_again(env: Env, calibrator: Calibrator) -> Calibration | None:
    """The calibration once more at the end: how far the machine's speed moved during the run."""
    try:
        if not env.quick:
            await env.settle()
        async with asyncio.timeout(120 if env.quick else 600):
            end = await calibrator.measure()
    except Exception as exc:  # the figures stand without it; the table says it is missing
        log(f"could not measure the calibration at the end: {type(exc).__name__}: {exc}")
        return None
    log(end.line("calibration at end"))
    log(calibration.drift_line(env.calibration, end))
    return end


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
