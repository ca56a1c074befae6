"""Every selector of every dashboard panel names metrics and labels the components really export.

Serving and drift: what a real Prometheus scraped during the demo (MLServer as the platform runs
it, behind the serving chart's PodMonitor relabelings; the drift job's own push to a real
Pushgateway; demo/panels.py), read back by a fresh Prometheus over a copy of the demo's TSDB.
Components that cannot run here are checked against their upstream sources at the pinned versions:
kube-state-metrics v2.20.0 (docs/metrics/workload/deployment-metrics.md), Argo Workflows v4.0.5
(docs/metrics.md: names prefixed ``argo_workflows_``, attributes as labels), and NVIDIA's DCGM
exporter 4.5.3-4.8.2 (field names from the pinned chart's counters list in ../shared/upstream,
labels from internal/pkg/rendermetrics/render_metrics.go).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import promql_parser
import pytest

from demo import prometheus as monitoring
from demo.panels import predictor_pod_labels
from infra.dashboards.promql import INFERENCE_SERVICE_LABEL, TRACK_LABEL, concrete, queries

pytestmark = pytest.mark.xdist_group("after-demo")
ROOT = Path(__file__).resolve().parents[2]
KUBE_STATE_METRICS = {"kube_deployment_spec_replicas": {"namespace", "deployment"},
                      "kube_deployment_status_replicas_available": {"namespace", "deployment"}}
ARGO_WORKFLOWS = {"argo_workflows_total_count": {"phase", "namespace"}, "argo_workflows_gauge": {"phase"}}
DCGM_LABELS = {"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname"}
# What Prometheus adds to a scraped series from its target (the operator's ServiceMonitors and PodMonitors).
TARGET_LABELS = {"namespace", "pod", "container", "service", "endpoint", "job", "instance"}
DCGM_COUNTERS = Path("dcgm-exporter-4.5.3-4.8.2/deployment/templates/metrics-configmap.yaml")
SCRAPED = {"rest_server_requests_total", "rest_server_request_duration_seconds_bucket", "up", "model_drift_feature_psi",
           "model_drift_psi_threshold", "model_drift_score", "push_time_seconds", "model_drift_run_duration_seconds"}


def _require(what: str) -> None:
    if os.environ.get("MLPLATFORM_REQUIRE_UPSTREAM"):
        pytest.fail(f"MLPLATFORM_REQUIRE_UPSTREAM is set and {what}")
    pytest.skip(what)


def dashboards(inference_service: str) -> dict:
    """Every dashboard's Grafana JSON, GPU included, from the program's code (infra environment)."""
    done = subprocess.run([str(ROOT / ".venv-infra" / "bin" / "python"), "-m", "infra.dashboards", "--namespace", "models",
                           "--inference-service", inference_service, "--gpu"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def upstream_labels() -> dict[str, set[str]]:
    """Metric -> labels of what runs only in a cluster, from the upstream sources at the pinned versions."""
    root = next((r for r in (ROOT.parent / "shared" / "upstream", ROOT / ".upstream") if (r / DCGM_COUNTERS).exists()), None)
    if root is None:
        _require("no upstream sources: ../shared/upstream is absent; run `make upstream`")
    fields = re.findall(r"^\s+(DCGM_FI_\w+)\s*,", (root / DCGM_COUNTERS).read_text(), re.M)
    return {**KUBE_STATE_METRICS, **ARGO_WORKFLOWS, **{field: DCGM_LABELS for field in fields}}


def selectors(expr: str) -> list[tuple[promql_parser.VectorSelector, set[str]]]:
    """Each vector selector of ``expr`` with the labels its enclosing aggregations group by."""
    found, groups = [], []

    def enter(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.AggregateExpr):
            by = node.modifier is not None and str(node.modifier.type).endswith("By")
            groups.append(set(node.modifier.labels) if by else set())
        elif isinstance(node, promql_parser.VectorSelector):
            found.append((node, set().union(*groups) if groups else set()))

    def leave(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.AggregateExpr):
            groups.pop()

    promql_parser.walk(promql_parser.parse(expr), enter, leave)
    return found


def problems(boards: dict, series_of: Callable[[str], list[dict[str, str]]], upstream: dict[str, set[str]]) -> list[str]:
    """What is wrong with the dashboards' selectors: a metric nobody exports, a label it lacks, a value never seen."""
    found = []
    for file_name, board in boards.items():
        for title, expr, _ in queries(board):
            where = f"{file_name} {title!r}"
            for node, grouping in selectors(concrete(expr, "1m")):
                matchers = [(m.name, str(m.op).rsplit(".", 1)[-1], m.value) for m in node.matchers.matchers]
                series = series_of(node.name)
                if series:
                    labels = set().union(*(s.keys() for s in series))
                    equal = [(n, v) for n, op, v in matchers if op == "Equal"]
                    if not any(all(s.get(n) == v for n, v in equal) for s in series):
                        found.append(f"{where}: no {node.name} series has {dict(equal)}")
                elif node.name in upstream:
                    labels = upstream[node.name] | TARGET_LABELS
                else:
                    found.append(f"{where}: {node.name} is neither scraped nor exported by a pinned component")
                    continue
                missing = {n for n, _, _ in matchers} - labels | (grouping - labels)
                if missing:
                    found.append(f"{where}: {node.name} has no label {sorted(missing)}")
    return found


@pytest.fixture(scope="module")
def scraped(demo_run: tuple, tmp_path_factory: pytest.TempPathFactory) -> monitoring.Prometheus:
    """A Prometheus over a copy of the demo's TSDB (no targets): the series the demo scraped."""
    if missing := monitoring.missing_binaries():
        _require(f"{', '.join(missing)} not installed (make monitoring-tools)")
    _, workdir = demo_run
    data = tmp_path_factory.mktemp("prometheus")
    shutil.copytree(workdir / "prometheus" / "tsdb", data / "tsdb")
    with monitoring.prometheus(data, [], data / "prometheus.log") as server:
        yield server


def _series_of(server: monitoring.Prometheus) -> Callable[[str], list[dict[str, str]]]:
    return lambda name: server.series(f'{{__name__="{name}"}}')


def test_every_dashboard_selector_matches_what_the_components_export(scraped: monitoring.Prometheus) -> None:
    """Each panel's metric names, matchers and grouping labels are ones the serving, drift, Argo, KSM and DCGM metrics carry."""
    series_of = _series_of(scraped)
    assert {name for name in SCRAPED if series_of(name)} == SCRAPED, "the demo's Prometheus scraped the serving and drift metrics"
    assert problems(dashboards("fraud"), series_of, upstream_labels()) == []


def test_a_misspelt_metric_label_or_value_fails(scraped: monitoring.Prometheus) -> None:
    """Not vacuous: a misspelt metric, a grouping label nobody exports, and another model's name are each reported."""
    text = json.dumps(dashboards("fraud"))
    broken = json.loads(text.replace("rest_server_requests_total", "rest_server_request_total", 1)
                        .replace(f"by ({TRACK_LABEL}, le)", "by (trak, le)").replace('model=\\"fraud\\"', 'model=\\"fraud-v2\\"', 1))
    found = problems(broken, _series_of(scraped), upstream_labels())
    assert any("rest_server_request_total is neither scraped" in line for line in found), found
    assert any("has no label ['trak']" in line for line in found), found
    assert any("'model': 'fraud-v2'" in line for line in found), found


def test_podmonitor_relabelings_label_stable_and_canary_pods(tmp_path: Path) -> None:
    """The serving chart's PodMonitor relabelings, run by a real Prometheus, give each predictor pod's series the
    inference_service and track (stable or canary) labels the serving dashboard splits by."""
    if missing := monitoring.missing_binaries():
        _require(f"{', '.join(missing)} not installed (make monitoring-tools)")
    isvc = "fraud-model-serving"
    monitor = monitoring.chart_podmonitor("fraud", "models", "predictor.name=v1", "canary.name=v2", "canary.storageUri=s3://b/v2")
    stable = {**predictor_pod_labels(isvc), "app": f"isvc.{isvc}-v1-predictor"}
    canary = {**predictor_pod_labels(isvc), "app": f"isvc.{isvc}-v2-predictor"}
    with monitoring.pushgateway(tmp_path / "pushgateway.log") as url:  # any /metrics endpoint will do as both pods'
        address = url.removeprefix("http://")
        targets = [monitoring.predictor_target(address, monitor, stable, f"{isvc}-v1-predictor-a-1"),
                   monitoring.predictor_target(address, monitor, canary, f"{isvc}-v2-predictor-b-2")]
        targets[1] = monitoring.Target(f"{targets[1].job}-canary", address, targets[1].labels, targets[1].relabelings)
        with monitoring.prometheus(tmp_path / "prometheus", targets, tmp_path / "prometheus.log") as server:
            server.wait_for_scrape(2)
            labels = {s["metric"]["pod"]: s["metric"] for s in server.query("up")}
    assert labels[f"{isvc}-v1-predictor-a-1"][TRACK_LABEL] == "stable"
    assert labels[f"{isvc}-v2-predictor-b-2"][TRACK_LABEL] == "canary"
    assert {m[INFERENCE_SERVICE_LABEL] for m in labels.values()} == {isvc}
    assert {m["namespace"] for m in labels.values()} == {"models"}
