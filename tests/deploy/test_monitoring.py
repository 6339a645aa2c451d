"""deploy/monitoring/: the alert rules pass promtool's checks and unit tests, and every metric a rule or
the Grafana dashboard uses is one a running service really exports (read from its /metrics)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.faults.harness import ServiceProcess, fault_policy, service_env

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy/monitoring"
RULES = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
RUNBOOK = "https://github.com/county-alerting/county-alerting/blob/main/README.md#"
SEVERITIES = {"critical", "warning", "info"}
# Made by Prometheus itself, not by the service.
PROMETHEUS_SERIES = {"up"}


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool, obtained once into ~/.cache/alerting/bin by deploy/local/promtool.sh."""
    done = subprocess.run(
        [ROOT / "deploy/local/promtool.sh"], check=True, capture_output=True, text=True, timeout=1200
    )
    return done.stdout.strip().splitlines()[-1]


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


# --- PromQL: which names in an expression are metrics ------------------------------------------

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
_KEYWORDS |= {"group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded series) names `expr` reads: what is left of its identifiers once
    strings, label matchers, ranges, label lists and function names are taken out."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("(") or match.group(0).lower() in _KEYWORDS:
            continue  # a function or an aggregation, or an operator
        names.add(match.group(0))
    return names


def test_metric_names_are_told_from_functions_labels_and_durations() -> None:
    expr = (
        'histogram_quantile(0.99, sum without (instance, le) (rate(a_bucket{job=~"x|y", le!="1e3"}[5m])))'
        " / on (job) group_left (channel) b_total offset 10m and bool c > 1e3 unless d:e:f"
        ' or max by (le) (label_replace(g, "dst", "$1", "src", "(.*)")) + time() + h[$__rate_interval]'
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d:e:f", "g", "h"}


# --- the rules -------------------------------------------------------------------------------------


def test_the_rules_pass_promtool_check(promtool: str) -> None:
    done = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in done.stdout


def test_the_rules_pass_their_promtool_unit_tests(promtool: str) -> None:
    tests = sorted((MONITORING / "tests").glob("*.yaml"))
    done = subprocess.run(
        [promtool, "test", "rules", *tests], capture_output=True, text=True, cwd=MONITORING / "tests"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(tests), done.stdout


def test_a_broken_rule_fails_the_unit_tests(promtool: str, tmp_path: Path) -> None:
    """The unit tests can fail: with the overdue alert's threshold raised, its test does."""
    broken = RULES.read_text(encoding="utf-8").replace(
        "(max_over_time(alerting_deadlines_overdue[5m])) > 0",
        "(max_over_time(alerting_deadlines_overdue[5m])) > 5",
    )
    assert broken != RULES.read_text(encoding="utf-8")
    (tmp_path / "alerts.yaml").write_text(broken, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    test = (MONITORING / "tests/deadlines.yaml").read_text(encoding="utf-8")
    (tmp_path / "tests/deadlines.yaml").write_text(test, encoding="utf-8")
    done = subprocess.run(
        [promtool, "test", "rules", "deadlines.yaml"], capture_output=True, text=True, cwd=tmp_path / "tests"
    )
    assert done.returncode != 0 and "CountyAlertingDeadlinesOverdue" in done.stderr


def test_every_alert_follows_the_conventions() -> None:
    alerts = _alerts()
    assert len({a["alert"] for a in alerts}) >= 12
    for alert in alerts:
        name = alert["alert"]
        assert re.fullmatch(r"CountyAlerting[A-Z][A-Za-z]+", name), name
        assert alert["labels"]["severity"] in SEVERITIES, name
        notes = alert["annotations"]
        assert notes["summary"] and notes["description"], name
        assert notes["runbook_url"] == RUNBOOK + name.lower(), name
        # Chinese first, then English, the values templated.
        assert re.match(r"[^\x00-\x7f]", notes["summary"]) or "/" in notes["summary"], name
        assert "{{" in notes["description"] and " / " in notes["summary"], name


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in (MONITORING / "tests").glob("*.yaml"):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {a["alert"] for a in _alerts()}
    assert names <= fired, names - fired
    assert names <= quiet, names - quiet


# --- the dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_is_what_its_generator_writes() -> None:
    done = subprocess.run(
        [sys.executable, MONITORING / "dashboard.py", "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_the_dashboard_has_its_rows_unique_ids_and_a_templated_datasource() -> None:
    dashboard = _dashboard()
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = list(_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert [r.split(" / ")[1] for r in rows] == [
        "Intake",
        "Deadlines",
        "Delivery",
        "Accountability",
        "Process",
    ]
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys(), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert metric_names(target["expr"]), f"{panel['title']}: {target['expr']} names no metric"


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses each query (Grafana's variables given values) as a recording rule."""
    exprs = [
        t["expr"].replace("$__rate_interval", "5m").replace("$job", ".+")
        for p in _panels(_dashboard())
        for t in p.get("targets", [])
    ]
    rules = [{"record": f"dashboard:query_{n}", "expr": e} for n, e in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    done = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# --- names against a running service's /metrics -------------------------------------------------------

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported_names(exposition: str) -> set[str]:
    """Every series name the exposition's families make, whether or not they have samples yet (a
    labelled family shows its TYPE before its first child)."""
    names: set[str] = set()
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.MULTILINE):
        base = family.removesuffix("_total") if kind == "counter" else family
        names |= {base + suffix for suffix in _SUFFIXES.get(kind, ("",))}
    names |= set(re.findall(r"^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]", exposition, flags=re.MULTILINE))
    return names


@pytest.fixture(scope="module")
def scraped(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """/metrics of `alerting run` (API and worker processes, every component) on SQLite."""
    where = tmp_path_factory.mktemp("monitoring")
    env = service_env(
        f"sqlite+aiosqlite:///{where / 'alerting.db'}",
        kafka_bootstrap,
        fault_policy(where / "policy.toml"),
        "http://127.0.0.1:9/",
    )
    service = ServiceProcess(env, where / "service.log")
    service.start()
    try:
        response = httpx.get(f"{service.url}/metrics", timeout=10)
        assert response.status_code == 200, response.text
        return response.text
    finally:
        service.terminate()


def test_the_exposition_names_resolve_suffixes() -> None:
    text = (
        "# TYPE alerting_reports_dlq_total counter\nalerting_reports_dlq_total 0.0\n"
        "# TYPE alerting_deadline_firing_lateness_seconds histogram\n"
        "# TYPE alerting_consumer_lag gauge\n"
    )
    assert exported_names(text) == {
        "alerting_reports_dlq_total",
        "alerting_reports_dlq_created",
        "alerting_deadline_firing_lateness_seconds_bucket",
        "alerting_deadline_firing_lateness_seconds_sum",
        "alerting_deadline_firing_lateness_seconds_count",
        "alerting_deadline_firing_lateness_seconds_created",
        "alerting_consumer_lag",
    }


def test_every_metric_the_rules_and_the_dashboard_use_is_exported(scraped: str) -> None:
    exported = exported_names(scraped)
    assert "alerting_outbox_pending" in exported and "alerting_consumer_lag" in exported
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    used: dict[str, set[str]] = {}
    for rule in _rules():
        used[rule.get("alert") or rule["record"]] = metric_names(rule["expr"])
    dashboard = _dashboard()
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            used[f"panel {panel['title']} {target['refId']}"] = metric_names(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":  # label_values(metric, label)
            found = re.fullmatch(r"label_values\((\w+), *\w+\)", variable["definition"])
            used[f"variable {variable['name']}"] = {found.group(1)} if found else set()
    unknown = {
        where: names - exported - recorded - PROMETHEUS_SERIES
        for where, names in used.items()
        if names - exported - recorded - PROMETHEUS_SERIES
    }
    assert not unknown, unknown
    assert all(names for names in used.values()), [w for w, names in used.items() if not names]
