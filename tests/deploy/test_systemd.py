"""The systemd units, checked by systemd's own tools: `systemd-analyze verify` (against copies whose
paths point at this checkout's built environment, since verify insists the binary exists) and
`systemd-analyze security --offline=yes` with a ceiling on the exposure score."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy/systemd"
PREFIX = "/opt/county-alerting"  # where install.sh and the packages build the environment
MAIN = "county-alerting.service"
MIGRATE = "county-alerting-migrate.service"
EXPOSURE_CEILING = 2.0  # systemd's scale: 0 (locked down) to 10; "OK" is below 4


def _copies(tmp_path: Path, edit: tuple[str, str] | None = None) -> Path:
    """The units with their ExecStart binary in this test's own environment (it exists there)."""
    for unit in (MAIN, MIGRATE):
        text = (UNITS / unit).read_text(encoding="utf-8").replace(PREFIX, sys.prefix)
        if edit is not None and unit == MAIN:
            assert edit[0] in text
            text = text.replace(*edit)
        (tmp_path / unit).write_text(text, encoding="utf-8")
    return tmp_path


def _verify(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", directory / MAIN, directory / MIGRATE],
        capture_output=True, text=True, timeout=60, check=False, cwd=directory,
    )  # fmt: skip


def test_systemd_analyze_verify_accepts_both_units(tmp_path: Path) -> None:
    done = _verify(_copies(tmp_path))
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (("Type=notify", "Type=notifi"), "Failed to parse service type"),
        (("WatchdogSec=30", "WatchdogSecs=30"), "Unknown key"),
        ((f"ExecStart={sys.prefix}/bin/alerting", "ExecStart=/nonexistent/alerting"), "is not executable"),
    ],
)
def test_verify_would_catch_a_broken_unit(tmp_path: Path, edit: tuple[str, str], complaint: str) -> None:
    assert complaint in _verify(_copies(tmp_path, edit)).stderr


@pytest.mark.parametrize("unit", [MAIN, MIGRATE])
def test_the_exposure_score_stays_low(tmp_path: Path, unit: str) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", _copies(tmp_path) / unit],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout[-2000:] + done.stderr
    assert float(found.group(1)) <= EXPOSURE_CEILING, done.stdout


def _settings(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_the_main_unit_waits_for_readiness_and_the_migration() -> None:
    main = _settings(MAIN)
    assert main["Type"] == ["notify"] and main["NotifyAccess"] == ["main"]
    assert main["WatchdogSec"] == ["30"] and main["Restart"] == ["on-failure"]
    assert main["ExecStart"] == [f"{PREFIX}/bin/alerting run"]
    assert MIGRATE in main["Requires"] and MIGRATE in " ".join(main["After"])
    # The service's role does not migrate; the owner's unit does, with its own settings file.
    assert "ALERTING_MIGRATE_ON_START=false" in main["Environment"]
    migrate = _settings(MIGRATE)
    assert migrate["Type"] == ["oneshot"] and migrate["ExecStart"] == [f"{PREFIX}/bin/alerting migrate"]
    assert "-/etc/county-alerting/migrate.env" in migrate["EnvironmentFile"]
    assert "/etc/county-alerting/migrate.env" not in " ".join(main["EnvironmentFile"])
