"""The dashboards: provisioned where Grafana's sidecar finds them, on the stacks with monitoring; the DCGM exporter
and Argo's scrape beside them; each dashboard built by grafana-foundation-sdk from the one owner of its metric names."""

from __future__ import annotations

import json
import re

import pytest

from infra import gpu, namespaces
from infra.components.dcgm_exporter import COUNTERS
from infra.components.monitoring_stack import DASHBOARD_LABEL
from infra.dashboards import catalog, drift, serving
from infra.dashboards import gpu as gpu_board
from infra.dashboards.catalog import Scope
from infra.dashboards.promql import queries
from infra.flows import WORKFLOW_CONTROLLER_METRICS_PORT, WORKFLOW_CONTROLLER_PODS
from pipelines.drift.metrics import DRIFT_METRIC, FEATURE_METRIC, THRESHOLD_METRIC
from tooling import offline, render

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
SCOPE = Scope("models", "fraud-model-serving", "kubeflow")


def _dashboard_maps(run: offline.OfflineRun) -> list:
    return [r for r in run.of_type(CONFIG_MAP) if DASHBOARD_LABEL[0] in (r.inputs["metadata"].get("labels") or {})]


def _release(run: offline.OfflineRun, chart: str) -> list:
    return [r for r in run.of_type(render.RELEASE) if r.inputs["chart"] == chart]


def test_dashboards_are_configmaps_the_sidecar_selects(stack_run: offline.OfflineRun) -> None:
    """With monitoring on: one ConfigMap per dashboard in the monitoring namespace, labelled as the Grafana chart's sidecar
    is told to select (grafana.sidecar.dashboards.label/labelValue); the GPU one only where the stack has GPU nodes."""
    settings, run_name = stack_run.settings, stack_run.stack
    maps = _dashboard_maps(stack_run)
    if not settings.monitoring:
        assert maps == [], f"{run_name}: dashboards without monitoring"
        return
    (stack_release,) = _release(stack_run, "kube-prometheus-stack")
    sidecar = stack_release.inputs["values"]["grafana"]["sidecar"]["dashboards"]
    with_gpu = namespaces.NVIDIA in namespaces.for_stack(settings)
    expected = catalog.dashboards(SCOPE, with_gpu)
    assert {m.inputs["metadata"]["name"] + ".json" for m in maps} == set(expected), run_name
    for item in maps:
        metadata = item.inputs["metadata"]
        assert metadata["namespace"] == namespaces.MONITORING.name, item.urn
        assert metadata["labels"][sidecar["label"]] == sidecar["labelValue"], item.urn
        ((file_name, text),) = item.inputs["data"].items()
        assert json.loads(text)["uid"] == expected[file_name]["uid"], item.urn


def test_argo_controller_is_scraped_on_its_metrics_port(stack_run: offline.OfflineRun) -> None:
    """The pipelines dashboard's source: a PodMonitor of Argo's workflow controller (TLS, its own namespace label kept)."""
    monitors = [r for r in stack_run.of_type(POD_MONITOR) if r.inputs["metadata"]["name"] == "workflow-controller"]
    if not stack_run.settings.monitoring:
        assert monitors == []
        return
    (monitor,) = monitors
    spec = monitor.inputs["spec"]
    assert monitor.inputs["metadata"]["namespace"] == namespaces.KUBEFLOW.name
    assert spec["selector"]["matchLabels"] == WORKFLOW_CONTROLLER_PODS
    (endpoint,) = spec["podMetricsEndpoints"]
    assert (endpoint["portNumber"], endpoint["scheme"], endpoint["honorLabels"]) == (WORKFLOW_CONTROLLER_METRICS_PORT, "https", True)


def test_dcgm_exporter_only_on_gpu_stacks_with_monitoring(stack_run: offline.OfflineRun) -> None:
    """NVIDIA's DCGM exporter is installed where GPU nodes and monitoring both are, on the GPU nodes only, non-root,
    with a ServiceMonitor Prometheus selects."""
    settings = stack_run.settings
    releases = _release(stack_run, "dcgm-exporter")
    if not (settings.monitoring and namespaces.NVIDIA in namespaces.for_stack(settings)):
        assert releases == [], stack_run.stack
        return
    (release,) = releases
    values = release.inputs["values"]
    assert values["nodeSelector"] == gpu.node_selector() and values["tolerations"] == [gpu.toleration()]
    assert values["securityContext"]["runAsNonRoot"] is True and values["securityContext"]["capabilities"] == {"add": [], "drop": ["ALL"]}
    assert values["serviceMonitor"]["additionalLabels"] == {"release": "kube-prometheus-stack"}


def test_the_gpu_dashboard_reads_only_fields_the_exporter_exports() -> None:
    """Every DCGM field the GPU dashboard queries is in the exporter's counters list the program installs."""
    fields = {field for field, _, _ in COUNTERS}
    used = {name for _, expr, _ in queries(gpu_board.dashboard()) for name in re.findall(r"\bDCGM_FI_\w+", expr)}
    assert used and used <= fields, used - fields


def test_counters_are_fields_of_the_pinned_exporter() -> None:
    """The counters the program installs are DCGM fields the pinned chart's own counters list names (commented or not)."""
    from infra import versions
    from tests.conformance.conftest import upstream_or_skip

    upstream = upstream_or_skip()
    template = (upstream / versions.DCGM_EXPORTER.upstream_dir / "templates" / "metrics-configmap.yaml").read_text()
    known = set(re.findall(r"\b(DCGM_FI_\w+)\s*,", template))
    assert {field for field, _, _ in COUNTERS} <= known


def test_panels_use_the_owners_metric_names() -> None:
    """The drift and serving dashboards query the names their owners hold (the drift job's module, MLServer's)."""
    drift_exprs = " ".join(expr for _, expr, _ in queries(drift.dashboard("models", "fraud")))
    assert all(name in drift_exprs for name in (DRIFT_METRIC, FEATURE_METRIC, THRESHOLD_METRIC))
    serving_exprs = " ".join(expr for _, expr, _ in queries(serving.dashboard("models", "fraud")))
    assert serving.REQUESTS in serving_exprs and serving.DURATION_BUCKETS in serving_exprs


@pytest.mark.parametrize("board", list(catalog.dashboards(SCOPE, True).values()), ids=lambda b: b["uid"])
def test_every_panel_has_a_titled_query_on_the_datasource_variable(board: dict) -> None:
    """Each panel queries Prometheus through the dashboard's datasource variable, with a legend and a unit."""
    assert board["templating"]["list"][0]["type"] == "datasource"
    for item in board["panels"]:
        assert item["targets"] and item["fieldConfig"]["defaults"].get("unit"), item["title"]
        for target in item["targets"]:
            assert target["datasource"]["uid"] == "${datasource}" and target["expr"] and target["legendFormat"], item["title"]
