"""HTTP intake: requests/s and latency of POST /api/v1/reports through to Kafka (acks=all), at 16 and
64 connections, with the load generator in another process on loopback.

The service is `alerting run` in a process of its own (API, producer, and the consumer storing what
arrives, as one replica runs in production), on a fresh SQLite file. The load generator is wrk
(bench/wrk_reports.lua) when it is installed (`apt-get install wrk`), otherwise a small keep-alive
HTTP/1.1 client in Python (`python -m bench.http_intake load ...`), which is slower than wrk and so
understates the service's rate when it is the bottleneck. Every request is the first report of a
distinct incident."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx

from bench import vegeta
from bench.common import ROOT, Result, Row, free_port, log, pct, report_body, utcnow
from bench.seeding import count_rows
from bench.services import Env

RATE_TARGET = 2000.0
P99_TARGET_MS = 25.0


class ServiceProcess:
    def __init__(self, env: Env, url: str, extra: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.env = {**env.service_env(url, self.port), **(extra or {})}
        self.log_path = env.workdir / "http-service.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self) -> str:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "alerting.app",
                "token",
                "create",
                "--role",
                "township",
                "--township",
                "城关镇",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=True,
            timeout=120,
        )
        return out.stdout.decode().strip().splitlines()[-1]

    def start(self) -> None:
        log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alerting.app", "run"],
            env=self.env,
            cwd=ROOT,
            stdout=log_file,
            stderr=log_file,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("service not ready within 90 s")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a short grace: the service finishes its batch in hand on SIGTERM,
        and its consumer is thousands of reports behind after the load (its database is thrown away)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _wrk(base: str, token: str, connections: int, seconds: float, run: str, at: str) -> dict[str, Any]:
    proc = subprocess.run(
        [
            "wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
            "-s", str(ROOT / "bench/wrk_reports.lua"), f"{base}/api/v1/reports",
        ],
        env={"PATH": "/usr/bin:/bin", "BENCH_TOKEN": token, "BENCH_AT": at, "BENCH_RUN": run},
        stdout=subprocess.PIPE,
        timeout=seconds + 60,
        check=True,
    )  # fmt: skip
    line = next(x for x in proc.stdout.decode().splitlines() if x.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return {
        "requests": raw["requests"],
        "seconds": raw["duration_us"] / 1e6,
        "errors": sum(
            raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
        ),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "raw": raw,
    }


def _python_load(
    base: str, token: str, connections: int, seconds: float, run: str, at: str
) -> dict[str, Any]:
    port = base.rsplit(":", 1)[1]
    proc = subprocess.run(
        [
            sys.executable, "-m", "bench.http_intake", "load", "--port", port, "--token", token,
            "--connections", str(connections), "--seconds", str(seconds), "--run", run, "--at", at,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        timeout=seconds + 60,
        check=True,
    )  # fmt: skip
    return dict(json.loads(proc.stdout.decode().strip().splitlines()[-1]))


# The default `alerting run` (the API here, consumer, deadlines and delivery in a worker child process),
# the same in one process (ALERTING_WORKER_PROCESS=false), and an intake-only replica
# (ALERTING_COMPONENTS=api, nothing consuming), as a county would run behind a load balancer.
DEPLOYMENTS = (
    ("default", {}),
    ("one-process", {"ALERTING_WORKER_PROCESS": "false"}),
    ("intake-only", {"ALERTING_COMPONENTS": "api"}),
)


async def run(env: Env) -> Result:
    seconds = 3.0 if env.quick else 10.0
    warm_up = 1.0 if env.quick else 3.0  # the first requests pay for connections and token look-ups
    generator = "wrk" if shutil.which("wrk") else "python"
    constant = await asyncio.to_thread(vegeta.find_or_install)
    result = Result(details={"load_generator": generator, "seconds": seconds, "database": "sqlite"})
    # --quick checks that the benchmark works: the one-process variant differs by a setting only.
    for name, extra in DEPLOYMENTS[::2] if env.quick else DEPLOYMENTS:
        url = await env.database("sqlite", f"http_intake_{name.replace('-', '_')}")
        service = ServiceProcess(env, url, extra)
        token = await asyncio.to_thread(service.token)
        await asyncio.to_thread(service.start)
        try:
            await _measure(env, service, token, name, generator, seconds, warm_up, result)
            if constant is not None:
                # The target's scenario is a steady 2,000 req/s, not a worker still storing the
                # tens of thousands of reports wrk just pushed: let it catch up first.
                await _caught_up(url, name, result)
                await _at_target_rate(env, constant, service, token, name, seconds, result)
        finally:
            await asyncio.to_thread(service.stop)
    return result


async def _measure(
    env: Env,
    service: ServiceProcess,
    token: str,
    name: str,
    generator: str,
    seconds: float,
    warm_up: float,
    result: Result,
) -> None:
    load = _wrk if generator == "wrk" else _python_load
    at = (utcnow() - timedelta(minutes=1)).isoformat()
    if warm_up:
        await asyncio.to_thread(load, service.base, token, 16, warm_up, "warm", at)
    for connections in (16, 64):
        figures = await asyncio.to_thread(
            load, service.base, token, connections, seconds, f"H{uuid.uuid4().hex[:6]}", at
        )
        rate = figures["requests"] / figures["seconds"]
        log(
            f"http {name} {connections} connections ({generator}): {rate:,.0f} req/s, "
            f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, errors {figures['errors']}"
        )
        key = f"{name.replace('-', '_')}_c{connections}"
        result.details[key] = figures
        result.figures[f"{key}_req_per_s"] = round(rate, 1)
        result.figures[f"{key}_p50_ms"] = round(figures["p50_ms"], 3)
        result.figures[f"{key}_p99_ms"] = round(figures["p99_ms"], 3)
        result.figures[f"{key}_errors"] = figures["errors"]
        rate_ref = env.calibration.rate_at_reference(rate)
        p99_ref = env.calibration.time_at_reference(figures["p99_ms"])
        result.figures[f"{key}_req_per_s_at_reference"] = round(rate_ref, 1)
        result.figures[f"{key}_p99_ms_at_reference"] = round(p99_ref, 3)
        result.rows.append(
            Row(
                f"http intake, {name}, {connections} connections ({generator})",
                f"{rate:,.0f} req/s, p50 {figures['p50_ms']:.1f} / p99 {figures['p99_ms']:.1f} ms, "
                f"{figures['errors']} errors",
                f"≥ {RATE_TARGET:,.0f} req/s, p99 ≤ {P99_TARGET_MS:g} ms",
                rate >= RATE_TARGET and figures["p99_ms"] <= P99_TARGET_MS and figures["errors"] == 0,
                f"{rate_ref:,.0f} req/s, p99 {p99_ref:.1f} ms",
                rate_ref >= RATE_TARGET and p99_ref <= P99_TARGET_MS and figures["errors"] == 0,
            )
        )


async def _caught_up(url: str, name: str, result: Result, within: float = 180) -> None:
    """Wait until the stored report count has stopped moving (at once where nothing consumes)."""
    t0 = time.perf_counter()
    last = await count_rows(url, "reports")
    while time.perf_counter() - t0 < within:
        await asyncio.sleep(1.0)
        now = await count_rows(url, "reports")
        if now == last:
            break
        last = now
    waited = time.perf_counter() - t0
    log(f"http {name}: {last:,} reports stored; waited {waited:.1f} s for the worker to catch up")
    result.details[f"{name.replace('-', '_')}_catch_up_s"] = round(waited, 1)


async def _at_target_rate(
    env: Env, binary: str, service: ServiceProcess, token: str, name: str, seconds: float, result: Result
) -> None:
    """The target's own terms: latency while 2,000 req/s are offered on schedule (open loop)."""
    rate = 200 if env.quick else int(RATE_TARGET)
    at = (utcnow() - timedelta(minutes=1)).isoformat()
    figures = await asyncio.to_thread(
        vegeta.attack,
        binary,
        env.workdir,
        f"{service.base}/api/v1/reports",
        token,
        rate,
        seconds,
        f"V{uuid.uuid4().hex[:6]}",
        at,
    )
    log(
        f"http {name} at {rate:,} req/s offered (vegeta): {figures['answered_per_s']:,.0f} answered/s, "
        f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, errors {figures['errors']}"
    )
    key = f"{name.replace('-', '_')}_rate{rate}"
    result.details[key] = figures
    result.figures[f"{key}_answered_per_s"] = round(figures["answered_per_s"], 1)
    result.figures[f"{key}_p50_ms"] = round(figures["p50_ms"], 3)
    result.figures[f"{key}_p99_ms"] = round(figures["p99_ms"], 3)
    result.figures[f"{key}_errors"] = figures["errors"]
    # The offered rate is fixed, so only the latency scales; the answered rate cannot exceed it.
    p99_ref = env.calibration.time_at_reference(figures["p99_ms"])
    result.figures[f"{key}_p99_ms_at_reference"] = round(p99_ref, 3)
    kept_up = figures["answered_per_s"] >= 0.99 * rate and figures["errors"] == 0
    result.rows.append(
        Row(
            f"http intake, {name}, {rate:,} req/s offered (vegeta, open loop)",
            f"{figures['answered_per_s']:,.0f} req/s answered, p50 {figures['p50_ms']:.1f} / "
            f"p99 {figures['p99_ms']:.1f} ms, {figures['errors']} errors",
            f"≥ {RATE_TARGET:,.0f} req/s, p99 ≤ {P99_TARGET_MS:g} ms",
            None if env.quick else kept_up and figures["p99_ms"] <= P99_TARGET_MS,
            f"p99 {p99_ref:.1f} ms (rate as offered)",
            None if env.quick else kept_up and p99_ref <= P99_TARGET_MS,
        )
    )


# ------------------------------------------------------------------------------------------------
# The Python load generator (used when wrk is not installed)
# ------------------------------------------------------------------------------------------------


async def _load(port: int, token: str, connections: int, seconds: float, run: str, at: str) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    def request(n: int, worker: int) -> bytes:
        body = report_body(f"{run}-{worker}-{n}", at)
        head = (
            f"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> int:
        writer.write(data)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        return status

    async def worker(w: int) -> None:
        nonlocal errors
        n = 0
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.perf_counter() < stop_at:
            n += 1
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                t = time.perf_counter()
                status = await asyncio.wait_for(one(*conn, request(n, w)), 10)
                latencies.append(time.perf_counter() - t)
                if status >= 400:
                    errors += 1
            except (OSError, TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError):
                errors += 1
                if conn is not None:
                    conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(connections)))
    elapsed = time.perf_counter() - t0
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "errors": errors,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        "max_ms": max(latencies, default=0.0) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_intake")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="drive POST /api/v1/reports (the fallback when wrk is missing)")
    load.add_argument("--port", type=int, required=True)
    load.add_argument("--token", required=True)
    load.add_argument("--connections", type=int, required=True)
    load.add_argument("--seconds", type=float, required=True)
    load.add_argument("--run", required=True)
    load.add_argument("--at", required=True)
    args = parser.parse_args()
    out = asyncio.run(_load(args.port, args.token, args.connections, args.seconds, args.run, args.at))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
