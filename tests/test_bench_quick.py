"""The benchmark still works: `python -m bench.run --quick` measures everything and writes its JSON.

This checks that every measurement runs end to end and yields numbers, and that the machine's
calibration is printed and recorded, not how fast anything is. It starts its own Kafka broker on
127.0.0.1:39092 (BENCH_KAFKA_PORT) and uses the local PostgreSQL."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

MEASUREMENTS = ("ingest", "firing", "memory", "restart", "http_intake", "delivery", "digests", "auditors")


@pytest.mark.kafka
@pytest.mark.postgres
def test_quick_benchmark_yields_every_measurement(tmp_path: Path, postgres_admin_dsn: str) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["quick"] is True
    assert set(MEASUREMENTS) <= set(document["measurements"])
    for name in MEASUREMENTS:
        measurement = document["measurements"][name]
        assert "error" not in measurement, (name, measurement.get("error"))
        figures = measurement["figures"]
        assert figures, f"{name}: no figures"
        for key, value in figures.items():
            assert isinstance(value, int | float) and not isinstance(value, bool), (name, key, value)
            assert math.isfinite(value), (name, key, value)
    assert len(document["table"]) >= len(MEASUREMENTS)
    assert "measurement" in proc.stdout  # the table was printed
    # The machine's calibration: printed first, measured again at the end, in the JSON.
    assert proc.stdout.startswith("calibration: raw consume "), proc.stdout[:500]
    assert "calibration at end: raw consume " in proc.stdout
    for when in ("start", "end"):
        measured = document["calibration"][when]
        assert measured["raw_consume_per_s"] > 0 and measured["python_score"] > 0, measured
    assert set(document["calibration"]["drift"]) >= {"raw_consume", "python"}
