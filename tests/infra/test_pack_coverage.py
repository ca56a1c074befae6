"""The pack's coverage (issue 29): each newer rule both ways, the insecure edits on copies of the stacks, and the
README's table of rules against the pack."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable

import pytest
from pulumi_policy import PolicyResource

from infra import config
from policies.pack import POLICIES
from tests.infra.policy_harness import BY_NAME, resource, run_resource, run_stack
from tests.infra.test_policies import POD, RESOURCE_CASES, STACK_CASES
from tooling import offline
from tooling.mocks import Registration
from tooling.policy_report import evaluate

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CLUSTER = "aws:eks/cluster:Cluster"
BUCKET = "aws:s3/bucket:Bucket"
RDS = "aws:rds/instance:Instance"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
RELEASE = "kubernetes:helm.sh/v3:Release"
ACCESS = {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
SYSTEM_GROUP = {"capacityType": "ON_DEMAND", "labels": {"mlplatform.io/role": "system"}, "scalingConfig": {"minSize": 3}}


def hardened(image: str = "", **context: object) -> dict:
    """A Deployment whose container is hardened, ``context`` changing its securityContext."""
    pod = json.loads(json.dumps(POD))
    pod["containers"][0]["securityContext"] |= {"readOnlyRootFilesystem": True, **context}
    pod["containers"][0]["image"] = image or pod["containers"][0]["image"]
    return {"metadata": {"name": "mlflow", "namespace": "mlflow"}, "spec": {"template": {"spec": pod}}}


def serving_release(gateway: str) -> dict:
    return {"chart": "/repo/charts/model-serving", "values": {"networkPolicy": {"gateway": {"namespace": gateway}}}}


# (policy, resource type, passing props, failing props, environment)
NEW_RESOURCE_CASES = [
    ("nodes-no-ssh", NODE_GROUP, {"launchTemplate": {"id": "lt-1"}},
     {"launchTemplate": {"id": "lt-1"}, "remoteAccess": {"ec2SshKey": "ops"}}, "dev"),
    ("eks-access-entries-only", CLUSTER, {"accessConfig": ACCESS},
     {"accessConfig": {"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}}, "dev"),
    ("eks-access-entries-only", CLUSTER, {"accessConfig": ACCESS}, {}, "dev"),
    ("s3-no-force-destroy-in-prod", BUCKET, {"bucket": "b", "forceDestroy": False}, {"bucket": "b", "forceDestroy": True}, "prod"),
    ("rds-multi-az-and-final-snapshot-in-prod", RDS, {"multiAz": True, "skipFinalSnapshot": False, "finalSnapshotIdentifier": "f"},
     {"multiAz": False, "skipFinalSnapshot": True}, "prod"),
    ("platform-workloads-hardened", DEPLOYMENT, hardened(), hardened(readOnlyRootFilesystem=False), "dev"),
    ("models-gateway-not-a-system-namespace", RELEASE, serving_release("istio-system"), serving_release("kube-system"), "dev"),
]


def subnet_stack(public_nodes: bool) -> list[PolicyResource]:
    """A VPC's public subnet (routed to the internet gateway) and private one, and a node group in one of them."""
    igw = resource("aws:ec2/internetGateway:InternetGateway", {}, "igw")
    table = resource("aws:ec2/routeTable:RouteTable", {"routes": [{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"}]}, "public",
                     depends={"routes": [igw]})
    public = resource("aws:ec2/subnet:Subnet", {"cidrBlock": "10.0.0.0/22"}, "public-a")
    private = resource("aws:ec2/subnet:Subnet", {"cidrBlock": "10.0.32.0/19"}, "private-a")
    association = resource("aws:ec2/routeTableAssociation:RouteTableAssociation", {}, "public-a",
                           depends={"subnetId": [public], "routeTableId": [table]})
    group = resource(NODE_GROUP, {}, "cpu", depends={"subnetIds": [public if public_nodes else private]})
    return [igw, table, public, private, association, group]


def models(uri: str, *own: str) -> list[PolicyResource]:
    return [*(resource(BUCKET, {"bucket": name}, name) for name in own),
            resource("kubernetes:serving.kserve.io/v1beta1:InferenceService", {"spec": {"predictor": {"model": {"storageUri": uri}}}})]


NEW_STACK_CASES = [
    ("nodes-private-subnets-only", subnet_stack(public_nodes=False), subnet_stack(public_nodes=True)),
    ("node-groups-per-environment",
     [resource(NODE_GROUP, SYSTEM_GROUP, "system", "prod"),
      resource(NODE_GROUP, {"capacityType": "ON_DEMAND", "labels": {"mlplatform.io/role": "gpu"}}, "gpu", "prod")],
     [resource(NODE_GROUP, {**SYSTEM_GROUP, "scalingConfig": {"minSize": 1}}, "system", "prod"),
      resource(NODE_GROUP, {"capacityType": "SPOT", "labels": {"mlplatform.io/role": "gpu"}}, "gpu-spot", "prod")]),
    ("team-namespaces-bounded",
     [resource("kubernetes:core/v1:Namespace", {"metadata": {"name": "models"}}),
      resource("kubernetes:core/v1:ResourceQuota", {"metadata": {"namespace": "models"}, "spec": {"hard": {"requests.cpu": "8", "requests.memory": "16Gi"}}}),
      resource("kubernetes:core/v1:LimitRange", {"metadata": {"namespace": "models"},
                                                 "spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "100m"}}]}})],
     [resource("kubernetes:core/v1:Namespace", {"metadata": {"name": "models"}}),
      resource("kubernetes:core/v1:ResourceQuota", {"metadata": {"namespace": "models"}, "spec": {"hard": {"requests.cpu": "8", "requests.memory": "16Gi"}}})]),
    ("models-from-allowed-sources", models("s3://mlp-prod-artifacts-1/mlflow/1/m", "mlp-prod-artifacts-1"),
     models("s3://someone-elses-bucket/fraud", "mlp-prod-artifacts-1")),
]


@pytest.mark.parametrize(("name", "resource_type", "good", "bad", "environment"), NEW_RESOURCE_CASES, ids=[c[0] for c in NEW_RESOURCE_CASES])
def test_new_resource_rule_both_ways(name: str, resource_type: str, good: dict, bad: dict, environment: str) -> None:
    """The rule passes its compliant resource, reports the non-compliant one (what, why, how), and ignores other types."""
    assert run_resource(name, resource_type, good, environment) == []
    reported = run_resource(name, resource_type, bad, environment)
    assert len(reported) == 1 and " Why: " in reported[0] and " Fix: " in reported[0], reported
    assert run_resource(name, "aws:sqs/queue:Queue", bad, environment) == []


@pytest.mark.parametrize(("name", "good", "bad"), NEW_STACK_CASES, ids=[c[0] for c in NEW_STACK_CASES])
def test_new_stack_rule_both_ways(name: str, good: list, bad: list) -> None:
    """The stack rule passes the compliant graph and reports the non-compliant one."""
    assert run_stack(name, good) == []
    reported = run_stack(name, bad)
    assert len(reported) == 1 and " Why: " in reported[0] and " Fix: " in reported[0], reported


def test_every_rule_is_tested_both_ways() -> None:
    """Every policy of the pack has a passing and a failing case, here or in test_policies.py."""
    covered = {c[0] for cases in (RESOURCE_CASES, STACK_CASES, NEW_RESOURCE_CASES, NEW_STACK_CASES) for c in cases}
    assert covered == set(BY_NAME), set(BY_NAME) ^ covered


def test_prod_only_rules_leave_other_environments_alone() -> None:
    """force_destroy and a single-AZ database without a final snapshot are dev's and staging's choice."""
    assert run_resource("s3-no-force-destroy-in-prod", BUCKET, {"bucket": "b", "forceDestroy": True}, "staging") == []
    assert run_resource("rds-multi-az-and-final-snapshot-in-prod", RDS, {"multiAz": False, "skipFinalSnapshot": True}, "dev") == []


def test_rendered_workloads_are_not_the_platforms() -> None:
    """A Deployment under a kustomize directory (upstream's) is judged by the profile rules, not platform-workloads-hardened."""
    parent = "urn:pulumi:s::p::mlplatform:k8s:Kfp$kubernetes:kustomize/v2:Directory::kfp"
    unhardened = hardened(readOnlyRootFilesystem=False)
    assert run_resource("platform-workloads-hardened", DEPLOYMENT, unhardened, parent=parent) == []
    assert len(run_resource("platform-workloads-hardened", DEPLOYMENT, unhardened, parent=parent.replace("kustomize/v2:Directory", "x"))) == 1


def test_digests_required_where_configured() -> None:
    """images-pinned accepts a tag by default; with requireDigest only name@sha256 passes."""
    by_tag, by_digest = hardened(), hardened(image="ghcr.io/mlflow/mlflow@sha256:" + "ab" * 32)
    assert run_resource("images-pinned", DEPLOYMENT, by_tag) == []
    assert "requireDigest" in run_resource("images-pinned", DEPLOYMENT, by_tag, config={"requireDigest": True})[0]
    assert run_resource("images-pinned", DEPLOYMENT, by_digest, config={"requireDigest": True}) == []


def test_model_sources_allow_list_is_matched_at_a_path_boundary() -> None:
    """A reviewed prefix admits what is under it, never a bucket whose name merely starts the same; MinIO's buckets are own."""
    allowed = {"allowedModelSources": ["s3://shared-models/fraud/"]}
    assert run_stack("models-from-allowed-sources", models("s3://shared-models/fraud/v3"), allowed) == []
    assert len(run_stack("models-from-allowed-sources", models("s3://shared-models/fraud-evil/v3"), allowed)) == 1
    assert len(run_stack("models-from-allowed-sources", models("s3://mlp-prod-artifacts-1-evil/m", "mlp-prod-artifacts-1"))) == 1
    minio = resource(RELEASE, {"chart": "minio", "values": {"buckets": [{"name": "artifacts"}]}})
    assert run_stack("models-from-allowed-sources", [minio, *models("s3://artifacts/mlflow/1/m")]) == []


def _edited(run: offline.OfflineRun, resource_type: str, edit: Callable[[dict], None]) -> offline.OfflineRun:
    """A copy of the stack's graph with ``edit`` applied to every resource of a type (its inputs and outputs)."""
    resources: list[Registration] = copy.deepcopy(run.resources)
    touched = [r for r in resources if r.type == resource_type]
    assert touched, resource_type
    for registration in touched:
        edit(registration.inputs)
        edit(registration.outputs)
    return offline.OfflineRun(run.stack, run.settings, resources, run.outputs)


EDITS = [
    ("ssh-on-a-node-group", "staging", NODE_GROUP, lambda p: p.update(remoteAccess={"ec2SshKey": "ops"}), "nodes-no-ssh"),
    ("prod-database-single-az-without-final-snapshot", "prod", RDS,
     lambda p: p.update(multiAz=False, skipFinalSnapshot=True, finalSnapshotIdentifier=None), "rds-multi-az-and-final-snapshot-in-prod"),
    ("prod-buckets-force-destroyed", "prod", BUCKET, lambda p: p.update(forceDestroy=True), "s3-no-force-destroy-in-prod"),
    ("eks-config-map-with-creator-admin", "prod", CLUSTER,
     lambda p: p.update(accessConfig={"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}),
     "eks-access-entries-only"),
]


@pytest.fixture(scope="module")
def committed() -> dict[str, offline.OfflineRun]:
    """The staging and prod graphs as committed (each passes the pack)."""
    runs = {stack: offline.run(stack) for stack in ("staging", "prod")}
    assert all(v.level != "mandatory" for run in runs.values() for v in evaluate(run))
    return runs


@pytest.mark.parametrize(("stack", "resource_type", "edit", "rule"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_insecure_edit_on_a_copy_is_mandatory(stack: str, resource_type: str, edit: Callable, rule: str,
                                              committed: dict[str, offline.OfflineRun]) -> None:
    """The audit's four insecure edits, made to a copy of the stack's graph, each break exactly their mandatory rule."""
    mandatory = {v.policy for v in evaluate(_edited(committed[stack], resource_type, edit)) if v.level == "mandatory"}
    assert mandatory == {rule}


def test_prod_model_from_another_bucket_is_mandatory() -> None:
    """A prod model in an S3 bucket that is not the stack's own (which the config accepts) is refused by the pack."""
    run = offline.run("prod", {"servingStorageUri": "s3://someone-elses-bucket/fraud/artifacts"})
    assert [(v.policy, v.level) for v in evaluate(run)] == [("models-from-allowed-sources", "mandatory")]


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_gateway_in_kube_system_is_mandatory_past_the_config(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """gatewayNamespace kube-system, were the config's check to go, is refused by the pack (release values or, for a
    helm-owned release, the platform's values ConfigMap)."""
    monkeypatch.setattr(config.Settings, "_check_gateway", lambda self: None)
    run = offline.run(stack, {"gatewayNamespace": "kube-system"})
    assert [(v.policy, v.level) for v in evaluate(run)] == [("models-gateway-not-a-system-namespace", "mandatory")]


def _readme_rules() -> dict[str, str]:
    text = (offline.ROOT / "README.md").read_text()
    section = text[text.index("\n## Policy pack\n"):]
    section = section[:section.index("\n## ", 1)]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (mandatory|advisory) \| (.+) \|$", section, re.MULTILINE)
    assert all(source.startswith(("EKS BP ›", "PSS", "platform:")) for _, _, source in rows), rows
    return {name: level for name, level, _ in rows}


def test_readme_lists_every_rule_with_its_level_and_source() -> None:
    """The README's table names exactly the pack's rules, each at its level, each with its EKS BP / PSS item (or platform)."""
    listed = _readme_rules()
    assert set(listed) - set(BY_NAME) == set(), "listed in the README but not in the pack"
    assert set(BY_NAME) - set(listed) == set(), "in the pack but not listed in the README"
    assert {p.name: p.enforcement_level.value for p in POLICIES} == listed
    assert f"of {len(POLICIES)} rules" in (offline.ROOT / "README.md").read_text()
