"""The operators' alerts (`deploy/prometheus/alerts.yaml`) with Prometheus's own `promtool`.

promtool checks the rules and runs their unit tests (`alerts_test.yaml`: when each alert fires and
when it stays quiet). What promtool cannot know is whether the rules query what the services
really export: a renamed metric or label would leave an alert that never fires. So the metrics
and labels in every expression and every test series are looked up in the kernel's registry
(`shared/metrics.py`), and every alert must have a firing test and a runbook section.

promtool comes from Debian's `prometheus` package, unpacked into a cache outside the repository
(the package itself is not installed: it would bring a server and its web assets).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from shared import metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = Path(__file__).with_name("alerts_test.yaml")
RUNBOOK = ROOT / "docs" / "operations.md"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hosting-accounts" / "prometheus"

# Labels the scrape adds to every series (the pod annotations' usual relabelling).
SCRAPE_LABELS = {"pod", "namespace", "instance", "job", "container"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"}


def _apt(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    return subprocess.run(["apt-get", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _fetch_promtool() -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        if _apt("download", "-qq", "prometheus", cwd=tmp).returncode != 0:
            _apt("update", "-qq")
            result = _apt("download", "-qq", "prometheus", cwd=tmp)
            if result.returncode != 0:
                pytest.fail(f"promtool is needed: `apt-get download prometheus` failed: {result.stderr[-500:]}")
        package = next(Path(tmp).glob("prometheus_*.deb"))
        staging = CACHE.with_name("prometheus.partial")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(package), str(staging)], check=True, timeout=300)
        staging.replace(CACHE)  # whole or not at all: an interrupted unpack is never taken for the tool
    return CACHE / "usr" / "bin" / "promtool"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    cached = CACHE / "usr" / "bin" / "promtool"
    return str(cached if cached.exists() else _fetch_promtool())


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = _promtool(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_each_alert_fires_when_it_should_and_only_then(promtool: str) -> None:
    result = _promtool(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_would_catch_a_rule_that_fires_on_the_wrong_series(promtool: str, tmp_path: Path) -> None:
    """The unit tests can fail: with the relay's threshold raised above the test's lag, they do."""
    loosened = RULES.read_text().replace(
        "max by (topic) (relay_lag_events) > 1000", "max by (topic) (relay_lag_events) > 9000"
    )
    assert loosened != RULES.read_text()
    (tmp_path / "alerts.yaml").write_text(loosened)
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tests["rule_files"] = [str(tmp_path / "alerts.yaml")]
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(tests))
    result = _promtool(promtool, "test", "rules", str(tmp_path / "alerts_test.yaml"))
    assert result.returncode != 0
    assert "AccountsRelayBehind" in result.stdout + result.stderr


def test_every_alert_has_a_firing_test_and_a_runbook_section() -> None:
    firing = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    anchors = {_anchor(line) for line in RUNBOOK.read_text().splitlines() if line.startswith("#")}
    for rule in _rules():
        assert rule["alert"] in firing, f"{rule['alert']}: no test where it fires"
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        link = rule["annotations"]["runbook_url"]
        assert link == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
        assert link.split("#")[1] in anchors, f"{rule['alert']}: no section in docs/operations.md"


def _anchor(heading: str) -> str:
    # As GitHub and most Markdown renderers make them: lower case, spaces to '-', punctuation dropped.
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _exported() -> dict[str, set[str]]:
    """Every series name the services export, with its labels."""
    names: dict[str, set[str]] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        name, labels = collector._name, set(collector._labelnames)
        if collector._type == "counter":
            names[f"{name}_total"] = labels
        elif collector._type == "histogram":
            names.update({f"{name}_bucket": labels | {"le"}, f"{name}_count": labels, f"{name}_sum": labels})
        else:
            names[name] = labels
    return names


def _selectors(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """The metric selectors of a PromQL expression (name, matched labels) and its grouping labels."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    clauses = r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)"
    grouping = {label.strip() for found in re.findall(clauses, expr) for label in found.split(",") if label.strip()}
    expr = re.sub(r"\[[^\]]*\]", " ", re.sub(clauses, " ", expr))
    selectors = []
    for found in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{([^}]*)\})?", expr):
        name, matchers = found.group(1), found.group(2)
        if name in PROMQL_WORDS or (matchers is None and expr[found.end() :].lstrip().startswith("(")):
            continue  # a keyword or a function
        labels = {m.split("=")[0].strip(" !~") for m in (matchers or "").split(",") if m.strip()}
        selectors.append((name, labels))
    return selectors, grouping


def test_the_rules_query_what_the_services_export() -> None:
    exported = _exported()
    assert "relay_lag_events" in exported
    assert "http_request_duration_seconds_bucket" in exported
    for rule in _rules():
        selectors, grouping = _selectors(rule["expr"])
        assert selectors, rule["alert"]
        for name, labels in selectors:
            assert name in exported, f"{rule['alert']}: the services export no {name}"
            assert labels <= exported[name], f"{rule['alert']}: {name} has no label {labels - exported[name]}"
        known = set().union(*(exported[name] for name, _ in selectors))
        assert grouping <= known, f"{rule['alert']}: grouped by {grouping - known}, which its metrics lack"


def test_the_unit_tests_series_are_shaped_as_the_services_export_them() -> None:
    exported = _exported()
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for series in test["input_series"]:
            name, _, matchers = series["series"].partition("{")
            labels = set(re.findall(r'(\w+)="', matchers))
            assert name in exported, f"no metric {name}"
            assert exported[name] <= labels <= exported[name] | SCRAPE_LABELS, series["series"]


def test_the_selector_reader_finds_names_labels_and_groupings() -> None:
    selectors, grouping = _selectors(
        'sum by (consumer) (increase(consumer_events_total{outcome="malformed"}[15m])) > 0'
        " unless on (service) max(relay_lag_events)"
    )
    assert selectors == [("consumer_events_total", {"outcome"}), ("relay_lag_events", set())]
    assert grouping == {"consumer", "service"}
