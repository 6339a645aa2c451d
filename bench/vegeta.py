"""Constant-rate HTTP load with vegeta: latency at a fixed offered rate, open loop.

wrk keeps N connections busy and so measures the latency of a saturated service; a target such as
"2,000 req/s with p99 <= 25 ms" is about the latency at that rate, which needs a generator that
sends on schedule whether or not earlier answers came back (no coordinated omission). vegeta is one:
it is installed with `go install` into ~/.cache/alerting/bin when Go is present.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.common import log, report_body

MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"
BIN_DIR = Path.home() / ".cache/alerting/bin"


def find_or_install() -> str | None:
    """The vegeta binary, installing it with Go if needed; None when neither is available."""
    for candidate in (shutil.which("vegeta"), BIN_DIR / "vegeta"):
        if candidate and Path(candidate).exists():
            return str(candidate)
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        return None
    log(f"installing vegeta ({MODULE}) with {go}")
    done = subprocess.run(
        [go, "install", MODULE],
        env={**os.environ, "GOBIN": str(BIN_DIR)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        log(f"vegeta not installed: {done.stderr.decode(errors='replace')[-300:]}")
        return None
    return str(BIN_DIR / "vegeta")


def _targets(path: Path, url: str, token: str, count: int, run: str, at: str) -> None:
    """One JSON target per request, each the first report of a distinct incident."""
    header = {"Content-Type": ["application/json"], "Authorization": [f"Bearer {token}"]}
    with path.open("w") as out:
        for n in range(count):
            body = report_body(f"{run}-{n}", at)
            target = {"method": "POST", "url": url, "header": header, "body": base64.b64encode(body).decode()}
            out.write(json.dumps(target) + "\n")


def attack(
    vegeta: str, workdir: Path, url: str, token: str, rate: int, seconds: float, run: str, at: str
) -> dict[str, Any]:
    """Offer `rate` requests/s for `seconds`; what came back, with latency percentiles in ms."""
    targets = workdir / f"vegeta-{run}.jsonl"
    _targets(targets, url, token, int(rate * seconds) + rate, run, at)
    attack = subprocess.run(
        [
            vegeta, "attack", "-format=json", f"-targets={targets}", f"-rate={rate}/s",
            f"-duration={seconds:g}s", "-timeout=10s", "-keepalive=true", "-max-connections=256",
        ],
        stdout=subprocess.PIPE,
        timeout=seconds + 120,
        check=True,
    )  # fmt: skip
    report = subprocess.run(
        [vegeta, "report", "-type=json"], input=attack.stdout, stdout=subprocess.PIPE, timeout=120, check=True
    )
    targets.unlink(missing_ok=True)
    raw = json.loads(report.stdout)
    ns = raw["latencies"]
    codes = raw.get("status_codes") or {}
    return {
        "requests": raw["requests"],
        "offered_per_s": raw["rate"],
        "answered_per_s": raw["throughput"],
        "success": raw["success"],
        "errors": sum(n for code, n in codes.items() if not code.startswith("2")),
        "p50_ms": ns["50th"] / 1e6,
        "p90_ms": ns["90th"] / 1e6,
        "p99_ms": ns["99th"] / 1e6,
        "max_ms": ns["max"] / 1e6,
    }
