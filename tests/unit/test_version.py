"""`alerting --version` names the installed package's version (what an operator compares with the
.deb/.rpm they installed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from alerting.app.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert capsys.readouterr().out.strip() == f"alerting {version}"
