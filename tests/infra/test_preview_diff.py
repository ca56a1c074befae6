"""The offline preview diff: resource changes, cost delta, policy results, no secrets."""

from __future__ import annotations

import json

from infra import cost, offline, preview_diff
from infra.snapshot import SECRET, snapshot


def snap(stack: str, overrides: dict | None = None) -> dict:
    return json.loads(json.dumps(snapshot(offline.run(stack, overrides)), default=str))


def test_instance_type_change_shows_exactly_that_node_group_and_its_cost() -> None:
    """Changing one node group's instance type changes that node group only, and the cost moves."""
    base = snap("prod")
    groups = json.loads(offline.stack_config("prod")["mlplatform:nodeGroups"])
    groups[0]["instanceTypes"] = ["m7i.2xlarge"]
    head = snap("prod", {"nodeGroups": groups})
    result = preview_diff.diff(base, head)
    assert result.added == [] and result.removed == []
    assert [(r["type"], r["name"]) for r, _ in result.changed] == [("aws:eks/nodeGroup:NodeGroup", "mlp-prod-system")]
    (_, changes), = result.changed
    assert changes == [("instanceTypes[0]", "m7i.xlarge", "m7i.2xlarge")]
    before, after = cost.total(cost.estimate(base, "us-east-1")), cost.total(cost.estimate(head, "us-east-1"))
    hourly = cost.load_prices()["regions"]["us-east-1"]["ec2_hour"]
    expected = (hourly["m7i.2xlarge"] - hourly["m7i.xlarge"]) * 730 * 3
    assert abs((after[0] - before[0]) - expected) < 0.01


def test_model_promotion_changes_only_the_serving_release() -> None:
    """Promoting a model in the prod stack file changes the serving Helm release and nothing else."""
    base = snap("prod")
    new_model = "s3://mlp-prod-artifacts-123456789012/mlflow/1/models/m-00000000000000000000000000000042/artifacts"
    head = snap("prod", {"servingStorageUri": new_model})
    result = preview_diff.diff(base, head)
    assert [(r["type"], r["name"]) for r, _ in result.changed] == [("kubernetes:helm.sh/v3:Release", "fraud")]
    (_, changes), = result.changed
    assert [key for key, _, _ in changes] == ["values.model.storageUri"]
    assert result.added == result.removed == []


def test_report_has_diff_policies_and_costs() -> None:
    """The Markdown report lists the change, the policy result and the cost table with a delta."""
    base = snap("staging")
    run = offline.run("staging", {"servingMaxReplicas": 5})
    text = preview_diff.report("staging", base, run, "`base`")
    assert "**0 to add, 1 to change, 0 to delete**" in text
    assert "`values.autoscaling.maxReplicas`: `3` → `5`" in text
    assert "### Policy pack at head: 0 mandatory, 0 advisory" in text
    assert "| **delta** | **+0** | **+0** | |" in text
    assert "node group cpu-spot" in text and "on-demand would be" in text


def test_secrets_never_appear_in_the_report() -> None:
    """Generated passwords, the database URI and the kubeconfig are masked in snapshots and reports."""
    run = offline.run("prod")
    secrets = [
        r.outputs["result"] for r in run.resources if r.type == "random:index/randomPassword:RandomPassword"
    ]
    assert secrets
    base = snap("prod")
    base["resources"] = {}  # everything shows as added, with all inputs
    text = preview_diff.report("prod", base, run, "`empty`")
    dump = json.dumps(snap("prod"))
    for secret in secrets:
        assert secret not in text and secret not in dump
    assert SECRET in dump
    assert snap("prod")["outputs"]["kubeconfig"] == SECRET


def test_git_base_revision_path() -> None:
    """Against HEAD (exported with git archive, run in a subprocess) the clean tree has no resource changes."""
    base = preview_diff.snapshot_at_revision("HEAD", "dev")
    head = snap("dev")
    result = preview_diff.diff(base, head)
    assert len(base["resources"]) > 50
    changed_types = {r["type"] for r, _ in result.changed} | {r["type"] for r in result.added + result.removed}
    # A dirty working tree may differ; the committed program must at least run at the base.
    assert changed_types <= {r["type"] for r in head["resources"].values()} | {r["type"] for r in base["resources"].values()}


def test_cost_compares_spot_and_on_demand() -> None:
    """Spot groups are priced at the discount with the on-demand figure beside them."""
    lines = {line.item: line for line in cost.estimate(snap("staging"), "us-east-1")}
    spot = next(line for item, line in lines.items() if item.startswith("node group cpu-spot"))
    assert "spot" in spot.item and spot.note.startswith("on-demand would be $")
    discount = cost.load_prices()["spot_discount"]
    hourly = cost.load_prices()["regions"]["us-east-1"]["ec2_hour"]["m7i.xlarge"]
    assert abs(spot.desired - hourly * 730 * (1 - discount) * 1) < 0.01
