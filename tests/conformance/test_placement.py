"""Placement, spread and priority over every stack's rendered objects, and the fault simulation against the README.

Planted defects mutate deep copies of the session's objects (nothing is rendered again).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from infra.placement import PLATFORM, SYSTEM_ROLE
from tooling import offline
from tooling.simulate import faults, placement
from tooling.simulate.services import services

ROOT = Path(__file__).resolve().parents[2]


def plain(stack_objects: dict, stack: str) -> list[dict]:
    return copy.deepcopy([o.obj for o in stack_objects[stack]])


def named(objects: list[dict], kind: str, namespace: str, name: str) -> dict:
    (found,) = [o for o in objects if o.get("kind") == kind and o["metadata"].get("namespace") == namespace
                and o["metadata"]["name"] == name]
    return found


def lines(found: list) -> set[str]:
    return {f.line() for f in found}


def test_prod_runs_every_platform_service_on_demand_only(stack_runs: dict, stack_objects: dict) -> None:
    """Prod: every platform service fits only the ON_DEMAND system group, at the platform's priority; models may use spot."""
    run = stack_runs["prod"]
    groups = {g.name: g for g in run.settings.enabled_node_groups}
    every = services(run.settings, plain(stack_objects, "prod"), run.resources)
    platform = [s for s in every if s.platform]
    assert len(platform) > 20
    misplaced = {s.subject: s.groups for s in platform
                 if not s.groups or any(groups[g].role != SYSTEM_ROLE or groups[g].capacity_type != "ON_DEMAND" for g in s.groups)}
    assert misplaced == {}
    assert {s.subject for s in platform if s.pod.spec.get("priorityClassName") not in (PLATFORM.name, "system-cluster-critical")} == set()
    assert any(groups[g].is_spot for s in every if s.model for g in s.groups), "models may use spot"


def test_a_planted_workload_without_the_rule_fails_on_prod(stack_runs: dict, stack_objects: dict) -> None:
    """placement: a platform Deployment without the system nodeSelector is named, with the spot group it may land on."""
    run, objects = stack_runs["prod"], plain(stack_objects, "prod")
    assert lines(placement.findings(run.settings, objects, run.resources)) == set()
    ui = named(objects, "Deployment", "kubeflow", "ml-pipeline-ui")
    del ui["spec"]["template"]["spec"]["nodeSelector"]
    assert lines(placement.findings(run.settings, objects, run.resources)) == {
        "FINDING placement: Deployment kubeflow/ml-pipeline-ui: a platform service that may run on cpu-spot (SPOT); "
        "platformPlacement system keeps it on the on-demand system group: give it infra/placement.py's nodeSelector"}


def test_a_single_replica_webhook_fails_on_prod(stack_runs: dict, stack_objects: dict) -> None:
    """placement: cert-manager's webhook (fail-closed) with one replica and no spread is named on prod."""
    run, objects = stack_runs["prod"], plain(stack_objects, "prod")
    webhook = named(objects, "Deployment", "cert-manager", "cert-manager-webhook")
    webhook["spec"]["replicas"] = 1
    del webhook["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert lines(placement.findings(run.settings, objects, run.resources)) == {
        "FINDING placement: Deployment cert-manager/cert-manager-webhook: incident-critical (a fail-closed webhook's backend, "
        "or in services.INCIDENT) with 1 replica(s), not at least 2; no zone topologySpreadConstraint"}


def test_a_pdb_that_blocks_drains_fails_on_prod(stack_runs: dict, stack_objects: dict) -> None:
    """placement: MLflow's PDB turned into minAvailable = replicas (every drain blocked) is named."""
    run, objects = stack_runs["prod"], plain(stack_objects, "prod")
    pdb = named(objects, "PodDisruptionBudget", "mlflow", "mlflow")
    pdb["spec"] = {"minAvailable": 2, "selector": pdb["spec"]["selector"]}
    assert lines(placement.findings(run.settings, objects, run.resources)) == {
        "FINDING placement: Deployment mlflow/mlflow: incident-critical (a fail-closed webhook's backend, or in "
        "services.INCIDENT) with no PDB that lets one pod go (maxUnavailable 1)"}


def test_steps_without_their_priority_fail(stack_runs: dict, stack_objects: dict) -> None:
    """placement: Argo's workflowDefaults without podPriorityClassName (steps would outrank nothing) are named."""
    run, objects = stack_runs["staging"], plain(stack_objects, "staging")
    config = named(objects, "ConfigMap", "kubeflow", "workflow-controller-configmap")
    config["data"]["workflowDefaults"] = config["data"]["workflowDefaults"].replace("podPriorityClassName", "unused")
    found = lines(placement.findings(run.settings, objects, run.resources))
    assert {line for line in found if "pipeline steps run at priority none" in line} and len(found) == 1, found


@pytest.mark.parametrize("stack", offline.STACKS)
def test_fault_table_matches_the_simulation(stack: str, stack_runs: dict, stack_objects: dict) -> None:
    """The README's fault rows of each stack are the simulation's (`--faults-readme` writes them)."""
    run = stack_runs[stack]
    rows = [faults.simulate_fault(stack, run.settings, plain(stack_objects, stack), run.resources, f).row() for f in faults.FAULTS]
    readme = (ROOT / "README.md").read_text()
    assert faults.readme_rows(readme, stack) == rows
    assert faults.with_rows(readme, stack, rows) == readme


def test_prod_loses_nothing_to_a_spot_reclaim_or_a_node(stack_runs: dict, stack_objects: dict) -> None:
    """Prod: a spot reclaim or a node loss takes no platform service or model down."""
    run = stack_runs["prod"]
    for fault in ("spot", "node"):
        report = faults.simulate_fault("prod", run.settings, plain(stack_objects, "prod"), run.resources, fault)
        assert faults.failed(report, run.settings) == [], "\n".join(report.lines())
        assert report.serving and not report.down


def test_spot_only_service_is_down_on_a_reclaim(stack_runs: dict, stack_objects: dict) -> None:
    """faults: a platform Deployment sent to the spot CPU nodes is down on prod's spot reclaim, and that fails the run."""
    run, objects = stack_runs["prod"], plain(stack_objects, "prod")
    named(objects, "Deployment", "monitoring", "pushgateway")["spec"]["template"]["spec"]["nodeSelector"] = {"mlplatform.io/role": "cpu"}
    report = faults.simulate_fault("prod", run.settings, objects, run.resources, "spot")
    assert report.down == ["Deployment monitoring/pushgateway: only spot groups (cpu-spot) fit it"]
    assert faults.failed(report, run.settings) == ["down on a spot loss: Deployment monitoring/pushgateway: only spot groups "
                                                   "(cpu-spot) fit it"]


def test_a_single_replica_volume_is_state_at_risk_on_a_zone_loss(stack_runs: dict, stack_objects: dict) -> None:
    """faults: a single-replica PVC-bound store is down and at risk on a zone loss; two spread replicas keep serving."""
    run, objects = stack_runs["prod"], plain(stack_objects, "prod")
    pushgateway = named(objects, "Deployment", "monitoring", "pushgateway")
    pushgateway["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "pushgateway"}}]
    report = faults.simulate_fault("prod", run.settings, objects, run.resources, "zone")
    assert "Deployment monitoring/pushgateway (pushgateway)" in report.at_risk
    assert "Deployment mlflow/mlflow (2 replicas)" in report.serving
