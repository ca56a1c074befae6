"""infra/placement.py: one owner of where platform pods run, and the KFP overlay that must agree with it."""

from __future__ import annotations

from pathlib import Path

import yaml

from infra import placement
from infra.components import cert_manager, kubeflow_pipelines, monitoring_stack
from infra.object_store import s3
from infra.placement import ANYWHERE, HA_REPLICAS, PIPELINE_STEPS, PLATFORM, SYSTEM_NODES, ZONE_KEY, Placement
from tooling import offline

ROOT = Path(__file__).resolve().parents[2]
KFP = ROOT / "infra" / "manifests" / "kubeflow-pipelines"
PINNED = Placement(pinned=True)


def test_priorities_order_platform_over_serving_over_steps() -> None:
    """PriorityClasses: platform > serving > pipeline steps, all below system-cluster-critical."""
    values = [p.value for p in placement.PRIORITIES]
    assert values == sorted(values, reverse=True) and len(set(values)) == 3
    assert values[0] < 2_000_000_000


def test_only_a_pinned_placement_selects_nodes_and_spreads() -> None:
    """`any` leaves pods anywhere with one replica; `system` selects the system group, HA replicas and a zone spread."""
    assert ANYWHERE.node_selector == {} and ANYWHERE.spread({"a": "b"}) == [] and ANYWHERE.replicas == 1
    assert PINNED.node_selector == SYSTEM_NODES and PINNED.replicas == HA_REPLICAS >= 2
    (spread,) = PINNED.spread({"a": "b"})
    assert spread["topologyKey"] == ZONE_KEY and spread["labelSelector"] == {"matchLabels": {"a": "b"}}


def test_chart_values_follow_the_placement() -> None:
    """cert-manager and kube-prometheus-stack take the node selector, priority and Alertmanager's HA from Placement."""
    certs = cert_manager.chart_values("cert-manager", PINNED)
    assert certs["global"]["nodeSelector"] == SYSTEM_NODES and certs["global"]["priorityClassName"] == PLATFORM.name
    assert certs["webhook"]["topologySpreadConstraints"] == PINNED.spread({"app.kubernetes.io/name": "webhook"})
    observability = offline.settings_of("prod")[1].observability
    monitoring = monitoring_stack.chart_values(True, observability, None, placement=PINNED)
    alertmanager = monitoring["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["replicas"] == HA_REPLICAS and alertmanager["podDisruptionBudget"]["maxUnavailable"] == 1
    assert alertmanager["podDisruptionBudget"]["minAvailable"] is None  # the chart's minAvailable: 1 would block drains
    for path in (("prometheus", "prometheusSpec"), ("grafana",), ("kube-state-metrics",), ("prometheusOperator",)):
        node = monitoring
        for key in path:
            node = node[key]
        assert node["nodeSelector"] == SYSTEM_NODES, path
    assert monitoring_stack.chart_values(True, observability, None)["grafana"]["nodeSelector"] == {}


def test_kfp_overlay_is_chosen_by_placement() -> None:
    """A pinned stack's KFP comes from the -system overlay, which exists beside the store's own."""
    store = s3("us-east-1", "data", "artifacts", "")
    assert kubeflow_pipelines.overlay(store) == "s3"
    assert kubeflow_pipelines.overlay(store, PINNED) == "s3-system"
    assert (KFP / kubeflow_pipelines.overlay(store, PINNED) / "kustomization.yaml").is_file()


def test_kfp_system_component_spells_placements_facts() -> None:
    """The KFP system component's node selector, replicas and spread are infra/placement.py's (one owner, checked)."""
    component = yaml.safe_load((KFP / "components" / "system" / "kustomization.yaml").read_text())
    patches = [yaml.safe_load(p["patch"]) for p in component["patches"]]
    every, api = patches
    assert every == [{"op": "add", "path": "/spec/template/spec/nodeSelector", "value": SYSTEM_NODES}]
    replicas, spread = api
    assert replicas["value"] == HA_REPLICAS
    assert spread["value"] == PINNED.spread({"app": "ml-pipeline"})


def test_kfp_base_names_the_priorities() -> None:
    """KFP's servers run at the platform's priority, Argo's steps at the steps' (the base overlay)."""
    base = (KFP / "base" / "kustomization.yaml").read_text()
    assert f"value: {PLATFORM.name}}}" in base
    assert f"podPriorityClassName: {PIPELINE_STEPS.name}" in base


def test_models_run_at_the_serving_priority() -> None:
    """The serving chart's platform values give every predictor the serving PriorityClass the program creates first."""
    from infra import config
    from infra.components import model_serving

    for stack in ("local", "prod"):
        settings = config.parse_settings(config.decode_config(offline.stack_config(stack, {})))
        values = model_serving.platform_values(settings, None, {}, "kube-prometheus-stack")
        assert values["priorityClassName"] == placement.SERVING.name, stack
    assert placement.SERVING in placement.PRIORITIES
