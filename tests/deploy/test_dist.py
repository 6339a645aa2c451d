"""`make dist`'s offline bundle: built for real (deploy/dist/build.sh), then the wheelhouse installed
into a fresh environment in a network namespace of its own, and the .deb, .rpm and tarball read back
with dpkg-deb, rpm and tar."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
ARCH = os.uname().machine
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[ARCH]
NAME = f"county-alerting-{VERSION}-{ARCH}"
PYTHONS = ("3.11", "3.12", "3.13")
# The first test waits for the build: on a fresh machine that includes building nfpm with Go and
# downloading every wheel (a few minutes); after that pip's cache makes it about a minute.
pytestmark = pytest.mark.timeout(1800)
# Where no network can be reached: pip's index and any proxy point at a closed loopback port too.
NO_NETWORK_ENV = {
    "PIP_NO_INDEX": "1",
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    "PIP_CONFIG_FILE": os.devnull,
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
}


@dataclass(frozen=True)
class Bundle:
    out: Path
    seconds: float

    @property
    def deb(self) -> Path:
        return self.out / f"county-alerting_{VERSION}-1_{DEB_ARCH}.deb"

    @property
    def rpm(self) -> Path:
        return self.out / f"county-alerting-{VERSION}-1.{ARCH}.rpm"

    @property
    def tarball(self) -> Path:
        return self.out / f"{NAME}.tar.gz"

    @property
    def wheelhouse(self) -> Path:
        return self.out / f"{NAME}-wheelhouse"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundle]:
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "DIST_DIR": str(out), "VENV": sys.prefix, "DIST_PYTHONS": " ".join(PYTHONS)}
    done = subprocess.run(
        [ROOT / "deploy/dist/build.sh"], env=env, capture_output=True, text=True, timeout=1500, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    seconds = float(re.search(r"built in (\d+) s", done.stderr).group(1))  # type: ignore[union-attr]
    print(done.stderr)
    yield Bundle(out, seconds)


def _run(*args: str | Path, **kwargs: object) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return str(done.stdout)


def test_the_artefacts_are_named_with_version_and_architecture(bundle: Bundle) -> None:
    names = sorted(path.name for path in bundle.out.iterdir())
    assert names == sorted([bundle.deb.name, bundle.rpm.name, bundle.tarball.name, bundle.wheelhouse.name])


def test_the_wheelhouse_installs_without_the_network_and_runs(bundle: Bundle, tmp_path: Path) -> None:
    stage = tmp_path / "unpacked"
    stage.mkdir()
    with tarfile.open(bundle.tarball) as tar:
        tar.extractall(stage, filter="tar")
    prefix = tmp_path / "opt" / "county-alerting"
    # A network namespace with nothing in it but a loopback that is down: any download fails.
    _run(
        "unshare", "--net", stage / NAME / "install.sh", "--venv-only", "--prefix", prefix,
        env={**os.environ, **NO_NETWORK_ENV, "ALERTING_PYTHON": sys.executable},
    )  # fmt: skip
    assert _run(prefix / "bin" / "alerting", "--version").strip() == f"alerting {VERSION}"
    # The compiled dependencies load (their wheels fit this interpreter and this machine).
    _run(prefix / "bin" / "python", "-c", "import aiokafka, asyncpg, uvloop, cryptography, argon2, orjson")
    installed = _run(prefix / "bin" / "python", "-m", "pip", "list", "--format=freeze")
    assert f"county-alerting=={VERSION}" in installed


def test_the_wheelhouse_has_binary_wheels_for_each_python_on_glibc_2_28(bundle: Bundle) -> None:
    wheels = [path.name for path in bundle.wheelhouse.glob("*.whl")]
    assert (bundle.wheelhouse / "PYTHON_VERSIONS").read_text().split() == list(PYTHONS)
    binary = {name.split("-")[0] for name in wheels if not name.endswith("-none-any.whl")}
    assert {"aiokafka", "asyncpg", "uvloop", "pydantic_core", "cryptography"} <= binary
    for project in binary:
        for version in PYTHONS:
            tag = f"cp{version.replace('.', '')}"
            fitting = [
                name
                for name in wheels
                if name.startswith(f"{project}-")
                and (f"-{tag}-{tag}-" in name or "-abi3-" in name)
                and _oldest_glibc(name) <= (2, 28)
            ]
            assert fitting, f"{project} has no wheel for CPython {version} on glibc 2.28"


def _oldest_glibc(wheel: str) -> tuple[int, int]:
    platforms = wheel.removesuffix(".whl").split("-")[-1].split(".")
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    found = [(int(m[1]), int(m[2])) for p in platforms if (m := re.match(r"manylinux_(\d+)_(\d+)_", p))]
    found += [glibc for p in platforms for name, glibc in legacy.items() if p.startswith(name + "_")]
    return min(found) if found else (99, 0)


def test_without_a_recent_python_the_install_stops_with_a_clear_message(
    bundle: Bundle, tmp_path: Path
) -> None:
    stage = tmp_path / "unpacked"
    stage.mkdir()
    with tarfile.open(bundle.tarball) as tar:
        tar.extractall(stage, filter="tar")
    tools = tmp_path / "bin"  # the shell's tools but no python at all
    tools.mkdir()
    for tool in ("cat", "dirname"):
        (tools / tool).symlink_to(_run("sh", "-c", f"command -v {tool}").strip())
    done = subprocess.run(
        ["/bin/sh", stage / NAME / "install.sh", "--venv-only", "--prefix", tmp_path / "opt"],
        env={"PATH": str(tools)}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "python3.11" in done.stderr and "CPython 3.11 3.12 3.13" in done.stderr, done.stderr
    assert not (tmp_path / "opt").exists()


def test_the_deb_carries_the_units_wheelhouse_config_and_scripts(bundle: Bundle, tmp_path: Path) -> None:
    info = _run("dpkg-deb", "--info", bundle.deb)
    assert f"Version: {VERSION}-1" in info and f"Architecture: {DEB_ARCH}" in info
    contents = _run("dpkg-deb", "--contents", bundle.deb)
    for path, mode in [
        ("./usr/lib/systemd/system/county-alerting.service", "-rw-r--r--"),
        ("./usr/lib/systemd/system/county-alerting-migrate.service", "-rw-r--r--"),
        ("./usr/share/county-alerting/install.sh", "-rwxr-xr-x"),
        (f"./usr/share/county-alerting/wheelhouse/county_alerting-{VERSION}-py3-none-any.whl", "-rw-r--r--"),
        ("./etc/county-alerting/alerting.env", "-rw-------"),  # secrets: root only
        ("./etc/county-alerting/migrate.env", "-rw-------"),
        ("./etc/county-alerting/policy.toml", "-rw-r--r--"),
        ("./etc/county-alerting/roster.example.csv", "-rw-r--r--"),
    ]:
        assert re.search(rf"^{re.escape(mode)} root/root .* {re.escape(path)}$", contents, re.M), path
    control = tmp_path / "control"
    _run("dpkg-deb", "--control", bundle.deb, control)
    assert (control / "conffiles").read_text().split() == [
        "/etc/county-alerting/alerting.env",
        "/etc/county-alerting/migrate.env",
        "/etc/county-alerting/policy.toml",
        "/etc/county-alerting/roster.example.csv",
    ]
    for script in ("preinst", "postinst", "prerm"):
        assert os.access(control / script, os.X_OK), script
        _run("sh", "-n", control / script)
    assert "install.sh --venv-only --prefix /opt/county-alerting" in (control / "postinst").read_text()
    assert "useradd --system" in (control / "postinst").read_text()
    # Without any python3 the package refuses to unpack, saying what to install.
    done = subprocess.run(
        ["/bin/sh", control / "preinst", "install"],
        env={"PATH": str(tmp_path / "nothing")}, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "python3.11" in done.stderr, done.stderr


def test_the_rpm_carries_the_same(bundle: Bundle) -> None:
    rpm = _run(ROOT / "deploy/local/rpm.sh").strip()
    header = _run(rpm, "-qp", "--queryformat", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", bundle.rpm)
    assert header == f"county-alerting {VERSION} 1 {ARCH}"
    files = _run(rpm, "-qlp", bundle.rpm).split()
    assert "/usr/lib/systemd/system/county-alerting.service" in files
    assert "/usr/lib/systemd/system/county-alerting-migrate.service" in files
    assert f"/usr/share/county-alerting/wheelhouse/county_alerting-{VERSION}-py3-none-any.whl" in files
    assert "/usr/share/county-alerting/install.sh" in files
    assert sorted(_run(rpm, "-qcp", bundle.rpm).split()) == [
        "/etc/county-alerting/alerting.env",
        "/etc/county-alerting/migrate.env",
        "/etc/county-alerting/policy.toml",
        "/etc/county-alerting/roster.example.csv",
    ]
    scripts = _run(rpm, "-qp", "--scripts", bundle.rpm)
    for section in ("preinstall scriptlet", "postinstall scriptlet", "preuninstall scriptlet"):
        assert section in scripts, scripts
    assert "install.sh --venv-only --prefix /opt/county-alerting" in scripts
    modes = _run(rpm, "-qp", "--queryformat", "[%{FILEMODES:perms} %{FILENAMES}\n]", bundle.rpm)
    assert "-rw------- /etc/county-alerting/alerting.env" in modes.splitlines()


def test_the_tarball_carries_the_installer_units_and_examples(bundle: Bundle) -> None:
    with tarfile.open(bundle.tarball) as tar:
        members = {member.name: member for member in tar.getmembers()}
    for path in (
        "install.sh",
        "systemd/county-alerting.service",
        "systemd/county-alerting-migrate.service",
        "etc/alerting.env",
        "etc/migrate.env",
        "etc/policy.toml",
        "etc/roster.example.csv",
        f"wheelhouse/county_alerting-{VERSION}-py3-none-any.whl",
        "README.md",
    ):
        assert f"{NAME}/{path}" in members, path
    assert members[f"{NAME}/install.sh"].mode & 0o111
