"""uv.lock pins every dependency; the check `make test` runs fails once pyproject.toml disagrees."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"  # installed into the venv by `make venv`


def _check(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UV, "lock", "--check", "--offline"],
        cwd=directory, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_lock_matches_pyproject(tmp_path: Path) -> None:
    done = _check(_copy(tmp_path))
    assert done.returncode == 0, done.stderr


def test_a_dependency_added_without_relocking_fails_the_check(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('  "orjson>=3.10",\n', '  "orjson>=3.10",\n  "uvloop>=0.19",\n'))
    assert pyproject.read_text(encoding="utf-8") != text
    done = _check(project)
    assert done.returncode != 0
    # uv says so outright when its cache holds every package's metadata; on a fresh machine (the
    # venv is installed by pip) it must resolve again to know, and offline it cannot: either way the
    # lock was found not to match (the unchanged project passes offline, test above).
    stale = "needs to be updated" in done.stderr
    unresolvable = "No solution found" in done.stderr and "network was disabled" in done.stderr
    assert stale or unresolvable, done.stderr


def test_a_bound_the_lock_breaks_fails_the_check(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"aiokafka>=0.12,<0.15"', '"aiokafka>=0.12,<0.13"'))
    assert _check(project).returncode != 0


def test_make_test_runs_the_check_before_the_tests() -> None:
    plan = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    check = next(i for i, line in enumerate(plan) if "uv lock --check --offline" in line)
    tests = next(i for i, line in enumerate(plan) if "bin/pytest" in line)
    assert check < tests
