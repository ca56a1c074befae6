"""The offline preview diff: resource changes, cost delta, policy results, no secrets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from infra import paths
from tooling import cost, offline, preview_diff, replacements
from tooling.snapshot import SECRET, snapshot


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
    """Generated passwords (the local stack's: AWS stacks hold none, test_credentials.py), the database URI and the
    kubeconfig are masked in snapshots and reports."""
    run = offline.run("local")
    secrets = [
        r.outputs["result"] for r in run.resources if r.type == "random:index/randomPassword:RandomPassword"
    ]
    assert secrets
    base = snap("local")
    base["resources"] = {}  # everything shows as added, with all inputs
    text = preview_diff.report("local", base, run, "`empty`")
    dump = json.dumps(snap("local"))
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


# pulumi-aws's schema in its own format (`pulumi package get-schema aws@<version>`), cut to the node
# group: instanceTypes and launchTemplate.name are ForceNew upstream (willReplaceOnChanges), the scaling
# config is updated in place. The extraction below is the one `make provider-schemas` runs.
SCHEMA_EXCERPT = {
    "name": "aws",
    "resources": {
        "aws:eks/nodeGroup:NodeGroup": {
            "inputProperties": {
                "instanceTypes": {"type": "array", "items": {"type": "string"}, "willReplaceOnChanges": True},
                "scalingConfig": {"$ref": "#/types/aws:eks/NodeGroupScalingConfig:NodeGroupScalingConfig"},
                "launchTemplate": {"$ref": "#/types/aws:eks/NodeGroupLaunchTemplate:NodeGroupLaunchTemplate"},
            }
        }
    },
    "types": {
        "aws:eks/NodeGroupScalingConfig:NodeGroupScalingConfig": {"properties": {"desiredSize": {"type": "integer"}}},
        "aws:eks/NodeGroupLaunchTemplate:NodeGroupLaunchTemplate": {
            "properties": {"name": {"type": "string", "willReplaceOnChanges": True}, "version": {"type": "string"}}
        },
    },
}


def rules_from_excerpt(tmp_path) -> replacements.Rules:
    """The replace rules as `make provider-schemas` writes them, from the excerpt (through the CLI)."""
    version = replacements.provider_versions()["aws"]
    schema = json.dumps({**SCHEMA_EXCERPT, "version": version})
    result = subprocess.run([sys.executable, "-m", "tooling.replacements", "extract", "--provider", "aws", "--version", version,
                             "--out-dir", str(tmp_path)], input=schema, capture_output=True, text=True, check=True)
    assert "1 resource types with replace-on-change inputs" in result.stdout
    return replacements.load(tmp_path, {"aws": version})


def test_extract_follows_nested_types() -> None:
    """Replace-on-change paths come from the schema's own flags, nested object types included."""
    assert replacements.extract(SCHEMA_EXCERPT) == {"aws:eks/nodeGroup:NodeGroup": ["instanceTypes", "launchTemplate.name"]}


def test_node_group_instance_types_change_is_a_replacement_at_the_top(tmp_path) -> None:
    """A changed instance list replaces the node group: the report says so first, above the changes."""
    rules = rules_from_excerpt(tmp_path)
    base = snap("prod")
    groups = json.loads(offline.stack_config("prod")["mlplatform:nodeGroups"])
    groups[0]["instanceTypes"] = ["m7i.2xlarge"]
    text = preview_diff.report("prod", base, offline.run("prod", {"nodeGroups": groups}), "`base`", rules)
    assert "**0 to add, 1 to change (1 replaced), 0 to delete**" in text
    top = text.index("### ⚠️ Stateful resources replaced or deleted")
    assert top < text.index("### Changed")
    assert "- **replace** `aws:eks/nodeGroup:NodeGroup` **mlp-prod-system** (by `instanceTypes[0]`)" in text[top:text.index("### Changed")]
    assert "`instanceTypes[0]`: `m7i.xlarge` → `m7i.2xlarge` **(forces replacement)**" in text


def test_scaling_change_is_an_update(tmp_path) -> None:
    """Changing a group's size is an in-place update: nothing is listed as replaced."""
    rules = rules_from_excerpt(tmp_path)
    base = snap("prod")
    groups = json.loads(offline.stack_config("prod")["mlplatform:nodeGroups"])
    groups[0]["maxSize"] += 1
    text = preview_diff.report("prod", base, offline.run("prod", {"nodeGroups": groups}), "`base`", rules)
    assert "(0 replaced)" in text and "Stateful resources replaced" not in text
    assert "- update `aws:eks/nodeGroup:NodeGroup` **mlp-prod-system**" in text


def test_without_a_schema_replacements_are_unknown_not_guessed(tmp_path) -> None:
    """No provider schema: the report says it cannot tell, and counts no replacements."""
    rules = replacements.load(tmp_path, {"aws": "7.51.1"})
    assert rules.forces_replacement("aws:eks/nodeGroup:NodeGroup", "instanceTypes[0]") is None
    base = snap("staging")
    text = preview_diff.report("staging", base, offline.run("staging", {"servingMaxReplicas": 5}), "`base`", rules)
    assert "_Replacements not known for aws 7.51.1: no provider schema here; run `make provider-schemas`" in text
    assert "replaced)" not in text


def test_without_a_schema_stateful_changes_still_come_first_under_the_warning(tmp_path) -> None:
    """No provider schema: moving staging's zones lists the cluster and node groups first, under the warning header, as
    maybe replaced (not buried among 15 "update or replace" entries); a change of no stateful resource adds no header."""
    rules = replacements.load(tmp_path, {"aws": "7.51.1"})
    base = snap("staging")
    zones = {"availabilityZones": ["us-east-1a", "us-east-1b", "us-east-1d"]}
    text = preview_diff.report("staging", base, offline.run("staging", zones), "`base`", rules)
    header = text.index("### ⚠️ Stateful resources replaced or deleted (or, without a schema, maybe replaced)")
    warned = text[header:text.index("\n### ", header + 1)]
    assert header < text.index("### Changed")
    assert "- **update or replace** `aws:eks/nodeGroup:NodeGroup` **mlp-staging-system** (by `subnetIds" in warned
    assert "no provider schema to tell" in warned and "`aws:ec2/subnet:Subnet`" not in warned
    quiet = preview_diff.report("staging", base, offline.run("staging", {"servingMaxReplicas": 5}), "`base`", rules)
    assert "⚠️" not in quiet


def test_a_changed_secret_shows_as_changed_and_masked(tmp_path) -> None:
    """MLflow's config Secret (the local stack's generated one) changes with basic auth off: listed as "secret changed",
    no value, no digest."""
    run = offline.run("local", {"mlflowBasicAuth": False})
    text = preview_diff.report("local", snap("local"), run, "`base`", rules_from_excerpt(tmp_path))
    assert "`kubernetes:core/v1:Secret` **mlflow-config**" in text
    assert "  - `stringData`: secret changed" in text
    (secret,) = [r for r in run.resources if r.type == "kubernetes:core/v1:Secret" and r.name == "mlflow-config"]
    for value in secret.inputs["stringData"].values():
        assert value not in text
    assert "[secret]#" not in text


def test_base_snapshot_uses_the_same_digest_key() -> None:
    """A snapshot in another process (as the base revision's is) masks an unchanged secret exactly as the head does."""
    from tooling.snapshot import DIGEST_KEY, DIGEST_KEY_ENV

    result = subprocess.run([sys.executable, "-m", "tooling.snapshot", "--stack", "local"], cwd=preview_diff.ROOT, capture_output=True,
                            text=True, check=True, env={**os.environ, DIGEST_KEY_ENV: DIGEST_KEY})
    base = json.loads(result.stdout)
    head = snap("local")
    urn = next(u for u, r in head["resources"].items() if r["name"] == "mlflow-config")
    assert base["resources"][urn]["inputs"]["stringData"] == head["resources"][urn]["inputs"]["stringData"]


def test_an_edit_to_an_overlay_file_changes_the_directory_that_applies_it(tmp_path, monkeypatch) -> None:
    """The engine's input for a kustomize overlay is only its path; an edit to a file it applies (here the base that
    the s3 overlay names) still shows, as a change of that Directory, naming the file."""
    copy = tmp_path / "kubeflow-pipelines"
    shutil.copytree(paths.KFP_MANIFESTS, copy)
    monkeypatch.setattr(paths, "KFP_MANIFESTS", copy)
    base = snap("staging")
    kustomization = copy / "base" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("limits: {cpu: '2', memory: 2Gi}", "limits: {cpu: '2', memory: 3Gi}", 1))
    result = preview_diff.diff(base, snap("staging"))
    assert [(r["type"], r["name"], [key for key, _, _ in changes]) for r, changes in result.changed] == [
        ("kubernetes:kustomize/v2:Directory", "kubeflow-pipelines-platform-agnostic", [f"(file) {kustomization}"])]
    assert result.added == result.removed == []


def test_a_chart_edit_changes_the_release_and_a_base_without_file_digests_shows_none() -> None:
    """The serving chart's files are digested like an overlay's; a base snapshot made before digests existed
    (no "sources") compares its inputs only, instead of listing every file as new."""
    head = snap("staging")
    (urn, release), = [(u, r) for u, r in head["resources"].items() if r["name"] == "fraud" and r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert "charts/model-serving/values.yaml" in release["sources"]
    edited = json.loads(json.dumps(head))
    edited["resources"][urn]["sources"]["charts/model-serving/values.yaml"] = "0" * 12
    (resource, changes), = preview_diff.diff(head, edited).changed
    assert resource["name"] == "fraud" and [key for key, _, _ in changes] == ["(file) charts/model-serving/values.yaml"]
    old = json.loads(json.dumps(head))
    for resource in old["resources"].values():
        resource.pop("sources", None)
    assert preview_diff.diff(old, head).changed == []


def test_a_region_or_class_without_prices_is_a_line_in_the_table_not_a_crash() -> None:
    """staging moved to eu-west-1, or given an RDS class and an instance type the table lacks: the report is whole,
    the unpriced items are named with what to add, and the totals say they leave them out."""
    base = snap("staging")
    zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    run = offline.run("staging", {"awsRegion": "eu-west-1", "availabilityZones": zones})
    text = preview_diff.report("staging", base, run, "`base`")
    assert "| everything in eu-west-1 | unpriced | unpriced | no price for region eu-west-1 in prices.yaml" in text
    assert "without the unpriced lines" in text
    groups = json.loads(offline.stack_config("staging")["mlplatform:nodeGroups"])
    groups[0]["instanceTypes"] = ["m7i.4xlarge"]
    run = offline.run("staging", {"rdsInstanceClass": "db.t4g.large", "nodeGroups": groups})
    lines = {line.item: line for line in cost.estimate(snap("staging", {"rdsInstanceClass": "db.t4g.large", "nodeGroups": groups}), "us-east-1")}
    (rds,) = [line for item, line in lines.items() if item.startswith("RDS db.t4g.large")]
    (group,) = [line for item, line in lines.items() if "m7i.4xlarge" in item]
    for line, what in ((rds, "db.t4g.large"), (group, "m7i.4xlarge")):
        assert not line.priced and f"no price for {what} in us-east-1" in line.note
    text = preview_diff.report("staging", base, run, "`base`")
    assert "RDS db.t4g.large" in text and "| unpriced | unpriced |" in text


def test_values_only_the_provider_knows_show_as_computed(tmp_path) -> None:
    """Mock ids and ARNs are not shown as if real: moving a zone changes subnet ids, printed as `(computed)`; values the
    program sets (a zone name) are printed as they are."""
    rules = replacements.load(tmp_path, {"aws": "7.51.1"})
    base = snap("staging")
    assert any(value.startswith("subnet-") for value in base["computed"])
    text = preview_diff.report("staging", base, offline.run("staging", {"availabilityZones": ["us-east-1a", "us-east-1b", "us-east-1d"]}),
                               "`base`", rules)
    assert "- `vpcConfig.subnetIds[2]`: `(computed)` → `(computed)`" in text
    assert not [line for line in text.splitlines() if "subnet-" in line]
    assert "us-east-1d" in text  # the new zone, set by the program, shown as it is


def test_cost_counts_the_models_alb_and_node_disks_and_names_what_it_cannot() -> None:
    """The ALB of the models' Ingress and the nodes' gp3 disks are priced; usage-billed items are named, not guessed."""
    prices = cost.load_prices()["regions"]["us-east-1"]
    lines = {line.item: line for line in cost.estimate(snap("staging"), "us-east-1")}
    assert lines["load balancers (hours; LCUs not included)"].desired == prices["load_balancer_hour"] * 730
    groups = json.loads(offline.stack_config("staging")["mlplatform:nodeGroups"])
    disks = sum(g.get("diskSizeGiB", 100) * g["desiredSize"] for g in groups)
    assert abs(lines["node disks (gp3)"].desired - disks * prices["ebs_gp3_gb_month"]) < 0.01
    assert not lines[cost.USAGE_BASED].priced and "NAT and PrivateLink per GB" in lines[cost.USAGE_BASED].note
    assert "load balancers (hours; LCUs not included)" not in {line.item for line in cost.estimate(snap("dev"), "us-east-1")}


def test_a_stack_new_in_the_change_is_diffed_against_nothing() -> None:
    """A stack file the base revision lacks (a team's new stack) is all added, not an error at the base."""
    assert preview_diff.snapshot_at_revision("HEAD", "sandbox-that-no-revision-has") == {
        "stack": "sandbox-that-no-revision-has", "resources": {}, "outputs": {}}
