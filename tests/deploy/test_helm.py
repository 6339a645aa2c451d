"""The Helm chart: lint, render, offline schema validation, the properties that matter, its unit tests.

The tools (helm, helm-unittest, kubeconform) are built once by deploy/local/helm-tools.sh; the
Kubernetes schemas come from the kubernetes-validate package. Nothing here needs a cluster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import alerting
from alerting.policy.loader import load_policy
from alerting.settings import Settings
from tests.deploy import kube_schemas

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/county-alerting"
PRODUCTION = CHART / "ci/production-values.yaml"
SECRET_SETTINGS = {
    "ALERTING_DATABASE_PASSWORD",
    "ALERTING_MIGRATION_DATABASE_PASSWORD",
    "ALERTING_KAFKA_SASL_PASSWORD",
    "ALERTING_LINK_SECRET",
    "ALERTING_KEY_ENCRYPTION_KEY",
}
# A cold build of all three takes several minutes on a 2-core machine.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="session")
def tools() -> dict[str, Path]:
    out = subprocess.run(
        [ROOT / "deploy/local/helm-tools.sh"], check=True, capture_output=True, text=True
    ).stdout.split()
    paths = {Path(p).name: Path(p) for p in out}
    assert set(paths) == {"helm", "helm-unittest", "kubeconform"}, out
    return paths


def helm(tools: dict[str, Path], *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tools["helm"], *args], check=check, capture_output=True, text=True)


def render(tools: dict[str, Path], *args: str | Path) -> list[dict[str, Any]]:
    out = helm(tools, "template", "yj", CHART, "--namespace", "alerting", *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


VALUES = {"default": [], "production": ["-f", str(PRODUCTION)]}


@pytest.fixture(scope="session", params=sorted(VALUES))
def rendered(request: pytest.FixtureRequest, tools: dict[str, Path]) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(tools, *VALUES[request.param])


def one(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} documents"
    return found[0]


def env_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in document["spec"]["template"]["spec"]["containers"][0]["env"]}


def containers(documents: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for d in documents:
        spec = d["spec"]["template"]["spec"] if d["kind"] in {"Deployment", "Job"} else d.get("spec", {})
        yield from spec.get("containers", [])


def test_chart_matches_the_service_and_its_example_files() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == alerting.__version__
    for name in ("policy.example.toml", "roster.example.csv"):
        assert (CHART / "files" / name).read_bytes() == (ROOT / "deploy" / name).read_bytes(), name
    # Helm reads no file outside the chart: its PrometheusRule carries a copy of the tested rules.
    rules = (CHART / "files/prometheus-rules.yaml").read_bytes()
    assert rules == (ROOT / "deploy/monitoring/alerts.yaml").read_bytes(), "cp deploy/monitoring/alerts.yaml"
    # The policy names its roster CSV relative to itself; the ConfigMap key must be that name.
    policy = tomllib.loads((CHART / "files/policy.example.toml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["roster"]["fileName"] == policy["roster"]["csv"]


@pytest.mark.parametrize("values", sorted(VALUES))
def test_lint_strict_passes(tools: dict[str, Path], values: str) -> None:
    result = helm(tools, "lint", "--strict", CHART, *VALUES[values], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_every_document_is_valid_offline(
    rendered: tuple[str, list[dict[str, Any]]], tools: dict[str, Path], tmp_path: Path
) -> None:
    name, documents = rendered
    kinds = sorted(d["kind"] for d in documents)
    expected = ["ConfigMap", "Deployment", "Deployment", "Job", "Pod", "Service", "Service", "ServiceAccount"]
    if name == "default":
        assert kinds == sorted([*expected, "Secret"])
    else:
        extra = ["HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "PodDisruptionBudget"]
        extra += ["PodDisruptionBudget", "PrometheusRule", "ServiceMonitor"]
        assert kinds == sorted(expected + extra)
    for document in documents:
        if document["kind"] in kube_schemas.OPERATOR_KINDS:
            check_operator_resource(document)
        else:
            kube_schemas.validate(document)
    # The same documents through kubeconform, a second validator, against the same schemas.
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump_all(documents, allow_unicode=True))
    location = kube_schemas.write_standalone(documents, tmp_path / "schemas")
    result = subprocess.run(
        [
            tools["kubeconform"],
            "-strict",
            "-summary",
            "-kubernetes-version",
            kube_schemas.KUBERNETES_VERSION,
            "-skip",
            ",".join(sorted(kube_schemas.OPERATOR_KINDS)),
            "-schema-location",
            location,
            manifest,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    operator = sum(d["kind"] in kube_schemas.OPERATOR_KINDS for d in documents)
    assert f"Valid: {len(documents) - operator}, Invalid: 0, Errors: 0, Skipped: {operator}" in result.stdout


def check_operator_resource(document: dict[str, Any]) -> None:
    """The fields the Prometheus operator requires of a ServiceMonitor and a PrometheusRule."""
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    assert document["metadata"]["name"]
    spec = document["spec"]
    if document["kind"] == "ServiceMonitor":
        assert spec["selector"]["matchLabels"]
        assert all(e["port"] == "http" and e["path"] == "/metrics" for e in spec["endpoints"])
        return
    rules_file = yaml.safe_load((CHART / "files/prometheus-rules.yaml").read_text())
    assert spec["groups"] == rules_file["groups"]
    for group in spec["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert ("alert" in rule) != ("record" in rule), rule
            assert rule["expr"]
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}


def test_worker_and_api_run_their_components_and_never_migrate(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, documents = rendered
    api = env_of(one(documents, "Deployment", "yj-county-alerting-api"))
    worker = env_of(one(documents, "Deployment", "yj-county-alerting-worker"))
    assert api["ALERTING_COMPONENTS"]["value"] == "api"
    assert worker["ALERTING_COMPONENTS"]["value"] == "consumer,deadlines,delivery"
    for env in (api, worker):
        assert env["ALERTING_WORKER_PROCESS"]["value"] == "false"
        assert env["ALERTING_MIGRATE_ON_START"]["value"] == "false"
        assert env["ALERTING_HTTP_HOST"]["value"] == "0.0.0.0"
        assert env["ALERTING_HTTP_PORT"]["value"] == "8000"
    # The image's command and port (deploy/Dockerfile: CMD alerting run, EXPOSE 8000).
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert 'CMD ["alerting", "run"]' in dockerfile and "EXPOSE 8000" in dockerfile
    deployment = one(documents, "Deployment", "yj-county-alerting-api")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["alerting", "run"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert re.search(r"^USER 10001", dockerfile, re.MULTILINE)


def test_migrate_job_is_a_pre_install_pre_upgrade_hook(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    name, documents = rendered
    job = one(documents, "Job", "yj-county-alerting-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["alerting", "migrate"]
    env = env_of(job)
    if name == "production":
        assert env["ALERTING_MIGRATION_DATABASE_URL"]["value"] == (
            "postgresql+asyncpg://alerting_owner@pg.db.county.example:5432/alerting"
        )
        assert env["ALERTING_DATABASE_SERVICE_ROLE"]["value"] == "alerting_service"
        assert env["ALERTING_DATABASE_SSL_MODE"]["value"] == "verify-full"
    # Only the Job holds the owner's password; the Deployments never see it.
    for deployment in (d for d in documents if d["kind"] == "Deployment"):
        assert "ALERTING_MIGRATION_DATABASE_PASSWORD" not in env_of(deployment)


def test_production_takes_secrets_only_by_reference(tools: dict[str, Path]) -> None:
    # Secrets given in values as well are ignored with existingSecret: none may appear anywhere.
    names = (
        "databasePassword",
        "migrationDatabasePassword",
        "kafkaSaslPassword",
        "linkSecret",
        "keyEncryptionKey",
    )
    sentinels = {f"secrets.{name}": f"SENTINEL-{name}-x9" for name in names}
    sets = [arg for key, value in sentinels.items() for arg in ("--set", f"{key}={value}")]
    documents = render(tools, "-f", str(PRODUCTION), *sets)
    text = json.dumps(documents, ensure_ascii=False)
    assert "SENTINEL-" not in text
    assert not [d for d in documents if d["kind"] == "Secret"]
    assert not re.search(r"://[^/@\s\"]+:[^/@\s\"]*@", text), "a URL with a password"
    refs = 0
    for container in containers(documents):
        for env in container.get("env", []):
            if env["name"] in SECRET_SETTINGS:
                assert "value" not in env, env["name"]
                assert env["valueFrom"]["secretKeyRef"]["name"] == "alerting-secrets", env
                refs += 1
    # API and worker: database, SASL, link secret, KEK; the Job: database and owner.
    assert refs == 2 * 4 + 2
    for configmap in (d for d in documents if d["kind"] == "ConfigMap"):
        assert not re.search(r"(?i)password\s*=\s*\"[^$\"]", "\n".join(configmap["data"].values()))


@pytest.mark.parametrize(
    ("setting", "pointer", "allowed"),
    [
        ("externalPostgresql.sslMode=verify-everything", "/externalPostgresql/sslMode", "'verify-full'"),
        ("externalKafka.securityProtocol=TLS", "/externalKafka/securityProtocol", "'SASL_SSL'"),
        ("externalKafka.saslMechanism=GSSAPI", "/externalKafka/saslMechanism", "'SCRAM-SHA-512'"),
    ],
)
def test_schema_refuses_a_bad_value_naming_it(
    tools: dict[str, Path], setting: str, pointer: str, allowed: str
) -> None:
    result = helm(tools, "template", "yj", CHART, "--set", setting, check=False)
    assert result.returncode != 0
    assert f"at '{pointer}': value must be one of" in result.stderr
    assert allowed in result.stderr


def test_schema_refuses_an_unknown_key(tools: dict[str, Path]) -> None:
    result = helm(tools, "template", "yj", CHART, "--set", "externalPostgresql.sslmode=require", check=False)
    assert result.returncode != 0
    assert "additional properties 'sslmode' not allowed" in result.stderr


def test_chart_unit_tests_pass(tools: dict[str, Path]) -> None:
    result = subprocess.run([tools["helm-unittest"], "--color=false", CHART], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    suites = len(list((CHART / "tests").glob("*_test.yaml")))
    assert re.search(rf"Test Suites:\s+{suites} passed, {suites} total", result.stdout), result.stdout
    counted = re.search(r"Tests:\s+(\d+) passed, (\d+) total", result.stdout)
    assert counted and counted[1] == counted[2] and int(counted[1]) >= 40, result.stdout


def test_package_leaves_out_unit_tests_and_ci_values(tools: dict[str, Path], tmp_path: Path) -> None:
    helm(tools, "package", CHART, "--destination", tmp_path)
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    with tarfile.open(tmp_path / f"county-alerting-{version}.tgz") as archive:
        names = set(archive.getnames())
    assert "county-alerting/templates/tests/readyz-test.yaml" in names
    assert "county-alerting/values.schema.json" in names
    assert not [n for n in names if n.startswith(("county-alerting/tests/", "county-alerting/ci/"))]


def test_tools_script_is_idempotent(tools: dict[str, Path]) -> None:
    again = subprocess.run([ROOT / "deploy/local/helm-tools.sh"], check=True, capture_output=True, text=True)
    assert again.stdout.split() == [str(tools[name]) for name in ("helm", "helm-unittest", "kubeconform")]
    assert "building" not in again.stderr
    assert "v3.22.0" in helm(tools, "version", "--short").stdout


def test_a_policy_change_rolls_both_deployments(tools: dict[str, Path], tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text((CHART / "files/policy.example.toml").read_text().replace('"24h"', '"12h"', 1))
    before = render(tools)
    after = render(tools, "--set-file", f"policy={policy}")
    for name in ("yj-county-alerting-api", "yj-county-alerting-worker"):
        old, new = (one(docs, "Deployment", name)["spec"]["template"]["metadata"] for docs in (before, after))
        assert old["annotations"]["checksum/config"] != new["annotations"]["checksum/config"]
    assert (
        'ack_link_ttl = "12h"' in one(after, "ConfigMap", "yj-county-alerting-config")["data"]["policy.toml"]
    )


def test_the_service_accepts_the_settings_the_chart_renders(
    rendered: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Deployment's environment, secrets filled in, passes the service's own settings checks."""
    _, documents = rendered
    for deployment in (d for d in documents if d["kind"] == "Deployment"):
        for name in [n for n in os.environ if n.startswith("ALERTING_")]:
            monkeypatch.delenv(name)
        for name, env in env_of(deployment).items():
            monkeypatch.setenv(name, env.get("value", "a-secret-from-the-secret-store-0123456789"))
        settings = Settings()
        assert settings.link_base() == env_of(deployment)["ALERTING_PUBLIC_URL"]["value"]
        assert settings.topic_replication() == (3, 2)
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        expected = set() if component == "api" else {"consumer", "deadlines", "delivery"}
        assert settings.component_set() == expected
        assert settings.worker_process is False


def test_the_mounted_policy_directory_loads(tools: dict[str, Path], tmp_path: Path) -> None:
    """The ConfigMap as mounted (policy and roster side by side) is a policy the service loads."""
    configmap = one(render(tools), "ConfigMap", "yj-county-alerting-config")
    for key, text in configmap["data"].items():
        (tmp_path / key).write_text(text, encoding="utf-8")
    policy = load_policy(tmp_path / "policy.toml", {"ALERTING_COUNTY_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    assert policy.roster.shifts, "the roster CSV was not read"
