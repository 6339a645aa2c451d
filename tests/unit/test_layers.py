"""The layers contract in pyproject.toml: it covers every module, and it catches an import that runs
against the flow (upward, between sibling interfaces, or inside the foundation)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["id"] == "layers"]
    return [re.split(r"\s*[|:]\s*", layer.strip()) for layer in contract["layers"]]


def test_every_module_of_the_product_sits_in_exactly_one_layer() -> None:
    listed = [module for layer in _layers() for module in layer]
    assert len(listed) == len(set(listed)), "a module is listed twice"
    children = {
        f"alerting.{path.stem}"
        for path in (ROOT / "alerting").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert children | {"consumers", "escalation"} == set(listed)


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the product's packages and its contract, to break on purpose."""
    for package in ("alerting", "consumers", "escalation"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_product_as_it_stands_keeps_the_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("escalation/rules.py", "alerting.app.service"),  # a stage importing the composition root
        ("consumers/intake.py", "alerting.audit.reviews"),  # intake filing reviews through the auditors
        ("alerting/web/ack.py", "alerting.cli.tables"),  # one interface importing a sibling
        ("alerting/domain.py", "alerting.storage.schema"),  # the foundation's bottom importing its top
    ],
)
def test_an_import_against_the_flow_breaks_the_contract(tree: Path, module: str, imported: str) -> None:
    with (tree / module).open("a") as source:
        source.write(f"\nimport {imported}  # deliberately against the flow\n")
    result = _lint(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {imported}" in result.stdout
    assert "0 kept, 1 broken" in result.stdout
