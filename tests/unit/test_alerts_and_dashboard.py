"""The alert rules (deploy/prometheus, deploy/k8s) and the Grafana dashboard (deploy/grafana).

Pure checks on the files: every alert is complete (severity, summary, description,
runbook) and explained in deploy/README.md; every metric a rule or a panel names is one
the code exports (CATALOGUE); the PrometheusRule in deploy/k8s holds exactly the groups of
deploy/prometheus/rules.yml, and the dashboard ConfigMap exactly deploy/grafana/shelfwatch.json
(both are generated from those files, see their headers); every alert fires in a case of
rules_test.yml and stays quiet in another. With promtool on the PATH (`make test` installs
it) the rules, their unit tests, the local Prometheus config and the dashboard's PromQL are
also checked by promtool itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
RULES_TEST = PROMETHEUS / "rules_test.yml"
PROMETHEUS_CONFIG = PROMETHEUS / "prometheus.yml"
K8S = ROOT / "deploy" / "k8s"
K8S_RULES = K8S / "prometheus-rules.yaml"
K8S_DASHBOARD = K8S / "grafana-dashboard.yaml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "shelfwatch.json"
DASHBOARD_KEY = "shelfwatch.json"
README = ROOT / "deploy" / "README.md"

Doc = dict[str, Any]

# Every metric ShelfWatch exports, name -> type, as Prometheus sees it (counters with their
# _total; a histogram by its base name, queried as _bucket, _sum, _count). This MUST match
# the metric table in README.md (and shared/metrics.py, api/meta.py, which define them):
# a metric renamed there is renamed here, and in the rules and the dashboard.
CATALOGUE: dict[str, str] = {
    # the gateway (gunicorn, multiprocess-aggregated)
    "shelfwatch_http_requests_total": "counter",
    "shelfwatch_http_request_seconds": "histogram",
    "shelfwatch_http_in_flight": "gauge",
    "shelfwatch_photos_submitted_total": "counter",
    # the workers (Celery prefork children, multiprocess-aggregated; each pool's metrics port)
    "shelfwatch_batch_size": "histogram",
    "shelfwatch_queue_wait_seconds": "histogram",
    "shelfwatch_batch_stage_seconds": "histogram",
    "shelfwatch_photo_seconds": "histogram",
    "shelfwatch_photo_products": "histogram",
    "shelfwatch_job_seconds": "histogram",
    "shelfwatch_jobs_total": "counter",
    "shelfwatch_model_info": "gauge",
    "shelfwatch_task_runs_total": "counter",
    "shelfwatch_task_seconds": "histogram",
    "shelfwatch_webhook_attempts_total": "counter",
    "shelfwatch_webhook_attempt_seconds": "histogram",
    # the farm's state, read from Postgres by the gateway on each scrape (same on every pod)
    "shelfwatch_queue_jobs": "gauge",
    "shelfwatch_queue_oldest_seconds": "gauge",
    "shelfwatch_rescan_remaining": "gauge",
    "shelfwatch_webhook_deliveries": "gauge",
    "shelfwatch_webhook_oldest_pending_seconds": "gauge",
    "shelfwatch_workers_consuming": "gauge",
    # model health, exported by the gateway from the table a scheduled job fills
    "shelfwatch_drift_psi": "gauge",
    "shelfwatch_accuracy_map50": "gauge",
}
# Prometheus's own series for each scrape target (jobs shelfwatch-api, shelfwatch-worker)
SCRAPE = {"up"}
# kube-state-metrics series the Kubernetes-only alerts read (quiet without it)
KUBE_STATE_METRICS = {
    "kube_deployment_status_replicas_available",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_job_status_failed",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SEVERITIES = {"critical", "warning"}


# --- reading PromQL -------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
# an identifier that is not part of a number or a duration (1h) and is not called: f(
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
             "bool", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (Grafana's $variables allowed)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _GRAFANA_VARIABLE.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def catalogue_metric(name: str) -> str | None:
    """The catalogue metric a series name belongs to, or None (a histogram is queried by suffix)."""
    if name in CATALOGUE:
        return None if CATALOGUE[name] == "histogram" else name
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and CATALOGUE.get(base) == "histogram":
            return base
    return None


@pytest.mark.parametrize(("expr", "names"), [
    ('histogram_quantile(0.95, sum by (le) (rate(shelfwatch_job_seconds_bucket{queue="audits"}[5m]))) > 10',
     {"shelfwatch_job_seconds_bucket"}),
    ('max(shelfwatch_webhook_deliveries{status="dead"}) - max(shelfwatch_webhook_deliveries offset 1h) > 0',
     {"shelfwatch_webhook_deliveries"}),
    ('absent(up{job="shelfwatch-api"}) and on () count(kube_job_status_failed{job_name="a_b"}) > 0',
     {"up", "kube_job_status_failed"}),
    ('a:b:rate5m{status=~"5.."} / ignoring (status) group_left () sum without (x) (c_total[$__rate_interval])',
     {"a:b:rate5m", "c_total"}),
    ('sum by (queue) (rate(x_sum{queue=~"$queue"}[$__rate_interval])) / sum by (queue) (rate(x_count[1d:5m]))',
     {"x_sum", "x_count"}),
])
def test_metric_names_are_read_from_promql(expr: str, names: set[str]):
    assert metric_names(expr) == names


def test_histograms_are_queried_by_their_series():
    assert catalogue_metric("shelfwatch_job_seconds_bucket") == "shelfwatch_job_seconds"
    assert catalogue_metric("shelfwatch_job_seconds_count") == "shelfwatch_job_seconds"
    assert catalogue_metric("shelfwatch_job_seconds") is None
    assert catalogue_metric("shelfwatch_jobs_total_count") is None
    assert catalogue_metric("shelfwatch_queue_depth") is None


# --- the rules ------------------------------------------------------------------------


def _yaml(path: Path) -> Doc:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), path
    return doc


def _rules() -> list[Doc]:
    return [rule for group in _yaml(RULES)["groups"] for rule in group["rules"]]


def _alerts() -> dict[str, Doc]:
    alerts: dict[str, Doc] = {}
    for rule in _rules():
        if "alert" in rule:
            assert rule["alert"] not in alerts, f"{rule['alert']} is defined twice"
            alerts[rule["alert"]] = rule
    return alerts


def _recorded() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def _rule_name(rule: Doc) -> str:
    return str(rule.get("alert") or rule["record"])


ALERTS = sorted(_alerts())
RULE_NAMES = [_rule_name(rule) for rule in _rules()]


def test_the_rules_have_groups_and_alerts():
    assert len(_yaml(RULES)["groups"]) > 1
    assert len(ALERTS) >= 10


@pytest.mark.parametrize("name", ALERTS)
def test_every_alert_has_a_severity_a_summary_and_a_runbook(name: str):
    alert = _alerts()[name]
    assert name.startswith("ShelfWatch")
    assert alert["labels"]["severity"] in SEVERITIES
    for key in ("summary", "description", "runbook"):
        assert str(alert["annotations"].get(key, "")).strip(), f"{name}: no {key}"


@pytest.mark.parametrize("name", RULE_NAMES)
def test_every_rule_names_only_exported_metrics(name: str):
    rule = next(rule for rule in _rules() if _rule_name(rule) == name)
    names = metric_names(rule["expr"])
    assert names, f"{name}: no metric found in its expression"
    for metric in names:
        known = catalogue_metric(metric) is not None or metric in SCRAPE | KUBE_STATE_METRICS | _recorded()
        assert known, f"{name}: {metric} is not exported (CATALOGUE)"


def test_nothing_reads_the_old_placeholder_metric():
    for path in (RULES, K8S_RULES, DASHBOARD):
        assert "shelfwatch_queue_depth" not in path.read_text(), path


# the gauges every gateway pod reads from Postgres on a scrape: each pod reports the same value
FARM_STATE = {"shelfwatch_queue_jobs", "shelfwatch_queue_oldest_seconds", "shelfwatch_rescan_remaining",
              "shelfwatch_webhook_deliveries", "shelfwatch_webhook_oldest_pending_seconds",
              "shelfwatch_workers_consuming", "shelfwatch_drift_psi", "shelfwatch_accuracy_map50"}


def summed(expr: str) -> list[str]:
    """The argument of every sum() in a PromQL expression."""
    args = []
    for match in re.finditer(r"\bsum\s*(?:(?:by|without)\s*\([^()]*\)\s*)?\(", expr):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(expr[end], 0)
            end += 1
        args.append(expr[match.end():end - 1])
    return args


def test_summed_finds_the_arguments_of_sum():
    assert summed("sum by (a) (rate(x[5m])) / sum(y) + sum_over_time(z[1h])") == ["rate(x[5m])", "y"]


def test_the_farm_state_is_never_summed_across_gateways():
    # sum() over several gateway pods would multiply the one value: max() or avg()
    exprs = [rule["expr"] for rule in _rules()] + [target["expr"] for _, target in _targets()]
    for expr in exprs:
        for arg in summed(expr):
            assert not metric_names(arg) & FARM_STATE, expr


# --- one source: deploy/prometheus/rules.yml -> deploy/k8s/prometheus-rules.yaml ------

REGENERATE_RULES = "regenerate it with the command in the header of deploy/k8s/prometheus-rules.yaml"


def test_the_prometheus_rule_holds_the_same_groups():
    docs = [d for d in yaml.safe_load_all(K8S_RULES.read_text()) if d is not None]
    assert len(docs) == 1
    rule = docs[0]
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == _yaml(RULES)["groups"], REGENERATE_RULES


def test_the_prometheus_rule_is_generated_from_rules_yml():
    # the text too, comments included: the groups are edited in rules.yml only
    _, sep, body = K8S_RULES.read_text().partition("\nspec:\n")
    assert sep, "deploy/k8s/prometheus-rules.yaml has no top-level `spec:` line"
    source = RULES.read_text()
    groups = source[source.index("\ngroups:\n") + 1:]
    expected = "".join(f"  {line}" if line.strip() else line for line in groups.splitlines(keepends=True))
    assert body == expected, REGENERATE_RULES


# --- promtool's unit tests (rules_test.yml) -------------------------------------------


def _rule_tests() -> list[Doc]:
    return [case for group in _yaml(RULES_TEST)["tests"] for case in group.get("alert_rule_test", [])]


def test_the_unit_tests_load_the_rules_file():
    assert _yaml(RULES_TEST)["rule_files"] == [RULES.name]


@pytest.mark.parametrize("name", ALERTS)
def test_every_alert_fires_in_a_unit_test_and_stays_quiet_in_another(name: str):
    cases = [case for case in _rule_tests() if case["alertname"] == name]
    assert any(case.get("exp_alerts") for case in cases), f"no case in rules_test.yml fires {name}"
    assert any(not case.get("exp_alerts") for case in cases), f"no case in rules_test.yml where {name} is quiet"


def test_the_unit_tests_name_only_defined_alerts():
    assert {case["alertname"] for case in _rule_tests()} <= set(ALERTS)


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (`make test` installs it: apt-get install prometheus)")
    return promtool


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)


def test_promtool_checks_the_rules():
    out = _run(_promtool(), "check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_pass():
    out = _run(_promtool(), "test", "rules", str(RULES_TEST))
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_checks_the_local_prometheus_config():
    out = _run(_promtool(), "check", "config", str(PROMETHEUS_CONFIG))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_local_prometheus_loads_the_rules_and_scrapes_both_jobs():
    config = _yaml(PROMETHEUS_CONFIG)
    assert config["rule_files"] == [RULES.name]
    assert {job["job_name"] for job in config["scrape_configs"]} == {"shelfwatch-api", "shelfwatch-worker"}


# --- deploy/README.md -----------------------------------------------------------------


def _section(title: str) -> str:
    text = README.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f'deploy/README.md has no "## {title}" section'
    return match.group(1)


@pytest.mark.parametrize("name", ALERTS)
def test_the_readme_explains_every_alert(name: str):
    assert name in _section("Alerts")


def test_the_readme_has_a_dashboard_section():
    assert "grafana/shelfwatch.json" in _section("Dashboard")


# --- the dashboard --------------------------------------------------------------------


def _dashboard() -> Doc:
    doc = json.loads(DASHBOARD.read_text())
    assert isinstance(doc, dict)
    return doc


def _panels() -> list[Doc]:
    panels: list[Doc] = []
    for panel in _dashboard()["panels"]:
        panels.append(panel)
        panels += panel.get("panels", [])  # a collapsed row keeps its panels inside
    return panels


def _targets() -> list[tuple[str, Doc]]:
    return [(panel["title"], target) for panel in _panels() for target in panel.get("targets", [])]


def _variables() -> dict[str, Doc]:
    return {v["name"]: v for v in _dashboard()["templating"]["list"]}


def test_the_dashboard_loads():
    dashboard = _dashboard()
    assert dashboard["uid"] == "shelfwatch"
    assert dashboard["title"]
    assert dashboard["schemaVersion"] >= 36  # Grafana 9/10
    assert _targets()


def test_the_dashboard_picks_its_prometheus_with_a_variable():
    variable = _variables()["datasource"]
    assert variable["type"] == "datasource"
    assert variable["query"] == "prometheus"


def test_every_panel_queries_through_the_datasource_variable():
    for panel in _panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panel_ids_are_unique():
    ids = [panel["id"] for panel in _panels()]
    assert len(ids) == len(set(ids))


def test_every_panel_names_only_exported_metrics():
    for title, target in _targets():
        names = metric_names(target["expr"])
        assert names, f"{title}: no metric in {target['expr']}"
        for name in names:
            assert catalogue_metric(name) is not None or name in SCRAPE, f"{title}: {name} is not exported"


def test_every_variable_query_names_only_exported_metrics():
    for variable in _variables().values():
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert match, f"{variable['name']}: {query}"
        for name in metric_names(match.group(1)):
            assert catalogue_metric(name) is not None, f"{variable['name']}: {name} is not exported"


def test_the_dashboard_graphs_every_exported_metric():
    shown = {catalogue_metric(name) for _, target in _targets() for name in metric_names(target["expr"])}
    assert set(CATALOGUE) - shown == set()


def test_the_dashboard_promql_parses(tmp_path: Path):
    # each query as a recording rule: promtool parses them all
    rules = [{"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": _concrete(target["expr"])}
             for panel in _panels() for target in panel.get("targets", [])]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = _run(_promtool(), "check", "rules", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


def _concrete(expr: str) -> str:
    """The expression as Grafana sends it: its intervals and variables filled in."""
    return re.sub(r"\$\w+", ".*", re.sub(r"\$__(rate_interval|interval|range)", "5m", expr))


# --- one source: deploy/grafana/shelfwatch.json -> deploy/k8s/grafana-dashboard.yaml --

REGENERATE_DASHBOARD = "regenerate it with the command in the header of deploy/k8s/grafana-dashboard.yaml"


def _config_map() -> Doc:
    docs = [d for d in yaml.safe_load_all(K8S_DASHBOARD.read_text()) if d is not None]
    assert len(docs) == 1
    config_map = docs[0]
    assert config_map["kind"] == "ConfigMap"
    return config_map


def test_the_dashboard_config_map_holds_the_dashboard():
    config_map = _config_map()
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"][DASHBOARD_KEY]) == _dashboard(), REGENERATE_DASHBOARD
    assert config_map["data"][DASHBOARD_KEY] == DASHBOARD.read_text(), REGENERATE_DASHBOARD


def test_the_dashboard_config_map_is_deployed():
    kustomization = _yaml(K8S / "kustomization.yaml")
    assert K8S_DASHBOARD.name in kustomization["resources"]


# --- Grafana provisioning (local stack) -----------------------------------------------


def test_the_provisioned_datasource_is_the_local_prometheus():
    sources = _yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert [s["type"] for s in sources] == ["prometheus"]
    assert sources[0]["url"] == "http://prometheus:9090"


def test_the_dashboard_provider_reads_a_folder():
    providers = _yaml(GRAFANA / "provisioning" / "dashboards" / "shelfwatch.yml")["providers"]
    assert len(providers) == 1
    assert providers[0]["type"] == "file"
    assert providers[0]["options"]["path"]


def test_the_catalogue_is_the_readme_metric_table():
    """The metric table users read names exactly the metrics this file checks rules against."""
    import re

    table = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `shelfwatch_")]
    names = {n for line in table for n in re.findall(r"`(shelfwatch_[a-z0-9_]+)`", line.split("|")[1])}
    assert names == set(CATALOGUE)
