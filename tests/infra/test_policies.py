"""The CrossGuard policy pack: every rule both ways, then the whole pack over every stack's graph."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, PolicyResource

from policies.pack import POLICIES
from tests.infra.policy_harness import BY_NAME, resource, run_resource, run_stack
from tooling import offline, preview
from tooling.policy_report import evaluate, report

SECURE_BUCKET_POLICY = json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                                  "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


CLUSTER = {
    "version": "1.35",
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}},
    "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True},
}
TEMPLATE = {
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}],
}
GPU_GROUP = {"amiType": "AL2023_x86_64_NVIDIA", "capacityType": "ON_DEMAND", "instanceTypes": ["g6.xlarge"],
             "launchTemplate": {"id": "lt-1"}, "scalingConfig": {"maxSize": 2},
             "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]}
SPOT_GROUP = {"amiType": "AL2023_x86_64_STANDARD", "capacityType": "SPOT", "instanceTypes": ["m7i.xlarge", "m6i.xlarge", "m5.xlarge"],
              "launchTemplate": {"id": "lt-1"}}
RDS = {"storageEncrypted": True, "kmsKeyId": "arn:aws:kms:us-east-1:1:key/k", "publiclyAccessible": False, "backupRetentionPeriod": 7,
       "deletionProtection": True}
TRUST = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": "arn"},
                        "Condition": {"StringEquals": {"oidc/id/X:sub": "system:serviceaccount:mlflow:mlflow",
                                                       "oidc/id/X:aud": "sts.amazonaws.com"}}}]}
GITHUB = "token.actions.githubusercontent.com"
GITHUB_TRUST = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                               "Principal": {"Federated": f"arn:aws:iam::1:oidc-provider/{GITHUB}"},
                               "Condition": {"StringEquals": {f"{GITHUB}:sub": ["repo:o/r:environment:staging", "repo:o/r:environment:prod"],
                                                              f"{GITHUB}:aud": "sts.amazonaws.com"}}}]}


def github_trust(**condition: Any) -> dict:
    statement = json.loads(json.dumps(GITHUB_TRUST["Statement"][0]))
    statement["Condition"] = condition
    return {"assumeRolePolicy": json.dumps({"Statement": [statement]})}


POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "c", "image": "ghcr.io/mlflow/mlflow:v3.17.2",
                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
}


def deployment(**changes: Any) -> dict:
    pod = json.loads(json.dumps(POD))
    pod["containers"][0].update(changes.pop("container", {}))
    pod.update(changes)
    return {"metadata": {"name": "d", "namespace": "mlflow"}, "spec": {"template": {"spec": pod}}}


DEPLOYMENT = "kubernetes:apps/v1:Deployment"

# (policy, resource type, passing props, failing props, environment, protect for the failing case)
RESOURCE_CASES = [
    ("eks-control-plane-logging", "aws:eks/cluster:Cluster", CLUSTER, {**CLUSTER, "enabledClusterLogTypes": ["api"]}, "dev"),
    ("eks-secrets-encryption", "aws:eks/cluster:Cluster", CLUSTER, {**CLUSTER, "encryptionConfig": None}, "dev"),
    ("eks-endpoint-restricted", "aws:eks/cluster:Cluster",
     {**CLUSTER, "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}},
     {**CLUSTER, "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}}, "prod"),
    ("eks-supported-version", "aws:eks/cluster:Cluster", CLUSTER, {**CLUSTER, "version": "1.29"}, "dev"),
    ("nodes-imdsv2-required", "aws:ec2/launchTemplate:LaunchTemplate", TEMPLATE,
     {**TEMPLATE, "metadataOptions": {"httpTokens": "optional"}}, "dev"),
    ("nodes-encrypted-volumes", "aws:ec2/launchTemplate:LaunchTemplate", TEMPLATE,
     {**TEMPLATE, "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 100}}]}, "dev"),
    ("gpu-nodes-tainted", "aws:eks/nodeGroup:NodeGroup", GPU_GROUP, {**GPU_GROUP, "taints": []}, "dev"),
    ("spot-nodes-diversified", "aws:eks/nodeGroup:NodeGroup", SPOT_GROUP, {**SPOT_GROUP, "instanceTypes": ["m7i.xlarge"]}, "dev"),
    ("gpu-node-budget", "aws:eks/nodeGroup:NodeGroup", GPU_GROUP, {**GPU_GROUP, "scalingConfig": {"maxSize": 50}}, "dev"),
    ("rds-storage-encrypted", "aws:rds/instance:Instance", RDS, {**RDS, "storageEncrypted": False}, "dev"),
    ("rds-not-public", "aws:rds/instance:Instance", RDS, {**RDS, "publiclyAccessible": True}, "dev"),
    ("rds-backups-and-deletion-protection", "aws:rds/instance:Instance", RDS, {**RDS, "deletionProtection": False}, "prod"),
    ("iam-no-wildcard-admin", "aws:iam/rolePolicy:RolePolicy",
     {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/p/*"}]})},
     {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})}, "dev"),
    ("irsa-trust-scoped", "aws:iam/role:Role", {"assumeRolePolicy": json.dumps(TRUST)},
     {"assumeRolePolicy": json.dumps({"Statement": [{**TRUST["Statement"][0], "Condition": {"StringLike": {"oidc/id/X:sub": "system:serviceaccount:*"}}}]})},
     "dev"),
    ("github-oidc-trust-scoped", "aws:iam/role:Role", {"assumeRolePolicy": json.dumps(GITHUB_TRUST)},
     github_trust(StringLike={f"{GITHUB}:sub": "repo:o/r:*"}, StringEquals={f"{GITHUB}:aud": "sts.amazonaws.com"}), "dev"),
    ("github-oidc-trust-scoped", "aws:iam/role:Role", {"assumeRolePolicy": json.dumps(GITHUB_TRUST)},
     github_trust(StringEquals={f"{GITHUB}:sub": ["repo:o/r:environment:prod", "repo:other/r:pull_request"], f"{GITHUB}:aud": "sts.amazonaws.com"}),
     "dev"),
    ("github-oidc-trust-scoped", "aws:iam/role:Role", {"assumeRolePolicy": json.dumps(GITHUB_TRUST)},
     github_trust(StringEquals={f"{GITHUB}:sub": "repo:o/r:environment:prod"}), "dev"),
    ("irsa-trust-scoped", "aws:iam/role:Role", {"assumeRolePolicy": json.dumps(GITHUB_TRUST)},
     {"assumeRolePolicy": json.dumps({"Statement": [{**TRUST["Statement"][0], "Condition": {}}]})}, "dev"),
    ("stateful-resources-protected", "aws:s3/bucket:Bucket", {"bucket": "b"}, {"bucket": "b"}, "prod"),
    ("namespace-pod-security-labels", "kubernetes:core/v1:Namespace",
     {"metadata": {"name": "n", "labels": {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "audit", "warn")}}},
     {"metadata": {"name": "n", "labels": {}}}, "dev"),
    ("containers-restricted", DEPLOYMENT, deployment(), deployment(container={"securityContext": {"privileged": True}}), "dev"),
    ("containers-resources", DEPLOYMENT, deployment(), deployment(container={"resources": {"limits": {"cpu": "1"}}}), "dev"),
    ("secrets-not-in-env-values", DEPLOYMENT, deployment(container={"env": [{"name": "LOG_LEVEL", "value": "info"}]}),
     deployment(container={"env": [{"name": "DATABASE_URI", "value": "postgresql://mlflow:hunter2@db:5432/mlflow"}]}), "dev"),
    ("database-connections-use-tls", "kubernetes:core/v1:Secret",
     {"metadata": {"name": "c"}, "stringData": {"uri": "postgresql://u:p@db:5432/m?sslmode=verify-full&sslrootcert=/ca.crt"}},
     {"metadata": {"name": "c"}, "stringData": {"ini": "[mlflow]\ndatabase_uri = postgresql://u:p@db:5432/m?sslmode=disable\n"}}, "dev"),
    ("database-connections-use-tls", "kubernetes:core/v1:Secret",
     {"metadata": {"name": "c"}, "data": {"uri": base64.b64encode(b"postgresql://u:p@db:5432/m?sslmode=require").decode()}},
     {"metadata": {"name": "c"}, "data": {"uri": base64.b64encode(b"postgresql://u:p@db:5432/m").decode()}}, "dev"),
    ("database-connections-use-tls", "kubernetes:core/v1:Secret",
     {"metadata": {"name": "m"}, "stringData": {"config.pbtxt": 'connection_config {\n  mysql {\n    host: "mysql"\n    ssl_options { ca: "/ca.crt" }\n  }\n}\n'}},
     {"metadata": {"name": "m"}, "stringData": {"config.pbtxt": 'connection_config {\n  mysql {\n    host: "mysql"\n    port: 3306\n  }\n}\n'}}, "dev"),
    ("images-pinned", DEPLOYMENT, deployment(), deployment(container={"image": "ghcr.io/mlflow/mlflow:latest"}), "dev"),
    ("images-allowed-registries", DEPLOYMENT, deployment(), deployment(container={"image": "evil.example.com/miner:1.0"}), "dev"),
    ("no-public-load-balancer", "kubernetes:core/v1:Service",
     {"metadata": {"name": "s", "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}}, "spec": {"type": "LoadBalancer"}},
     {"metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}}, "dev"),
    ("releases-and-manifests-pinned", "kubernetes:helm.sh/v3:Release", {"chart": "minio", "version": "5.4.0"},
     {"chart": "minio", "version": ""}, "dev"),
    ("log-groups-encrypted", "aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/eks/x/cluster", "kmsKeyId": "arn:aws:kms:us-east-1:1:key/k"},
     {"name": "/aws/eks/x/cluster"}, "dev"),
    ("rds-reachable-from-the-cluster-only", "aws:ec2/securityGroup:SecurityGroup",
     {"ingress": [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "securityGroups": ["sg-cluster"]}]},
     {"ingress": [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": ["10.20.0.0/16"]}]}, "dev"),
    ("network-policies-no-internet-ingress", "kubernetes:networking.k8s.io/v1:NetworkPolicy",
     {"metadata": {"name": "p"}, "spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}]}},
     {"metadata": {"name": "p"}, "spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/1"}}, {"ipBlock": {"cidr": "128.0.0.0/1"}}]}]}},
     "dev"),
    ("mlflow-auth-in-prod", DEPLOYMENT,
     {"metadata": {"name": "mlflow"}, "spec": {"template": {"spec": {"containers": [{"args": ["server", "--app-name", "basic-auth"]}]}}}},
     {"metadata": {"name": "mlflow"}, "spec": {"template": {"spec": {"containers": [{"args": ["server"]}]}}}}, "prod"),
    ("inference-service-bounded", "kubernetes:serving.kserve.io/v1beta1:InferenceService",
     {"spec": {"predictor": {"maxReplicas": 5, "model": {"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}}}}},
     {"spec": {"predictor": {"maxReplicas": 500, "model": {}}}}, "dev"),
]


@pytest.mark.parametrize(("name", "resource_type", "good", "bad", "environment"), RESOURCE_CASES, ids=[c[0] for c in RESOURCE_CASES])
def test_resource_rule_both_ways(name: str, resource_type: str, good: dict, bad: dict, environment: str) -> None:
    """The rule passes its compliant resource and reports its non-compliant one with what, why and how."""
    protect_good = name == "stateful-resources-protected"
    assert run_resource(name, resource_type, good, environment, protect=protect_good) == []
    reported = run_resource(name, resource_type, bad, environment)
    assert len(reported) >= 1
    assert all(" Why: " in m and " Fix: " in m for m in reported), reported


def test_rules_ignore_other_resource_types() -> None:
    """A resource rule's first check is the resource type: other types are never reported."""
    for name, resource_type, _, bad, environment in RESOURCE_CASES:
        other = "aws:sqs/queue:Queue" if not resource_type.startswith("aws:sqs") else "aws:sns/topic:Topic"
        assert run_resource(name, other, bad, environment) == [], name


def bucket_set(*, sse: bool = True, block: bool = True, versioning: bool = True, tls: bool = True, v2: bool = False,
               logging: bool = False) -> list[PolicyResource]:
    bucket_type = "aws:s3/bucketV2:BucketV2" if v2 else "aws:s3/bucket:Bucket"
    resources = [resource(bucket_type, {"bucket": "data-1", "id": "data-1"}, "data", "prod")]
    if sse:
        sse_type = ("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2" if v2
                    else "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        resources.append(resource(sse_type, {"bucket": "data-1", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}))
    if block:
        resources.append(resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", {
            "bucket": "data-1", "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}))
    if versioning:
        resources.append(resource("aws:s3/bucketVersioning:BucketVersioning", {"bucket": "data-1", "versioningConfiguration": {"status": "Enabled"}}))
    if tls:
        resources.append(resource("aws:s3/bucketPolicy:BucketPolicy", {"bucket": "data-1", "policy": SECURE_BUCKET_POLICY}))
    if logging:
        resources.append(resource("aws:s3/bucketLogging:BucketLogging", {"bucket": "data-1", "targetBucket": "logs-1", "targetPrefix": "data-1/"}))
    return resources


STACK_CASES = [
    ("s3-bucket-encryption", bucket_set(), bucket_set(sse=False)),
    ("s3-bucket-public-access-block", bucket_set(), bucket_set(block=False)),
    ("s3-bucket-versioning", bucket_set(), bucket_set(versioning=False)),
    ("s3-bucket-tls-only", bucket_set(), bucket_set(tls=False)),
    ("s3-access-logging-in-prod", bucket_set(logging=True), bucket_set()),
    ("eks-vpc-cni-network-policy",
     [resource("aws:eks/cluster:Cluster", CLUSTER), resource("aws:eks/addon:Addon", {"addonName": "vpc-cni", "configurationValues": '{"enableNetworkPolicy": "true"}'})],
     [resource("aws:eks/cluster:Cluster", CLUSTER), resource("aws:eks/addon:Addon", {"addonName": "vpc-cni"})]),
    ("node-role-least-privilege",
     [resource("aws:eks/nodeGroup:NodeGroup", {"nodeRoleArn": "arn:role/node"}), resource("aws:iam/role:Role", {"arn": "arn:role/node", "name": "node"}),
      resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "node", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"})],
     [resource("aws:eks/nodeGroup:NodeGroup", {"nodeRoleArn": "arn:role/node"}), resource("aws:iam/role:Role", {"arn": "arn:role/node", "name": "node"}),
      resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "node", "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"})]),
    ("rds-force-ssl",
     [resource("aws:rds/instance:Instance", {"parameterGroupName": "pg"}), resource("aws:rds/parameterGroup:ParameterGroup", {"name": "pg", "parameters": [{"name": "rds.force_ssl", "value": "1"}]})],
     [resource("aws:rds/instance:Instance", {"parameterGroupName": "pg"}), resource("aws:rds/parameterGroup:ParameterGroup", {"name": "pg", "parameters": []})]),
    ("service-log-groups-declared",
     [resource("aws:eks/cluster:Cluster", {**CLUSTER, "name": "mlp-prod"}),
      resource("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/eks/mlp-prod/cluster"}),
      resource("aws:rds/instance:Instance", {"identifier": "db", "enabledCloudwatchLogsExports": ["postgresql"]}),
      resource("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/rds/instance/db/postgresql"})],
     [resource("aws:rds/instance:Instance", {"identifierPrefix": "db-", "enabledCloudwatchLogsExports": ["postgresql"]}),
      resource("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/rds/instance/db/postgresql"})]),
    ("cluster-admins-in-account",
     [resource("aws:eks/cluster:Cluster", {**CLUSTER, "roleArn": "arn:aws:iam::111111111111:role/cluster"}),
      resource("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", {
          "principalArn": "arn:aws:iam::111111111111:role/admin",
          "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"})],
     [resource("aws:eks/cluster:Cluster", {**CLUSTER, "roleArn": "arn:aws:iam::111111111111:role/cluster"}),
      resource("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", {
          "principalArn": "arn:aws:iam::999999999999:role/admin",
          "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"})]),
    ("models-from-allowed-sources",
     [resource("aws:s3/bucket:Bucket", {"bucket": "mlp-dev-artifacts-1"}),
      resource("kubernetes:serving.kserve.io/v1beta1:InferenceService",
               {"spec": {"predictor": {"model": {"storageUri": "s3://mlp-dev-artifacts-1/mlflow/1/models/m-1/artifacts"}}}})],
     [resource("aws:s3/bucket:Bucket", {"bucket": "mlp-dev-artifacts-1"}),
      resource("kubernetes:serving.kserve.io/v1beta1:InferenceService",
               {"spec": {"predictor": {"model": {"storageUri": "https://models.example.net/fraud"}}}})]),
    ("namespace-default-deny",
     [resource("kubernetes:core/v1:Namespace", {"metadata": {"name": "models"}}),
      resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", {"metadata": {"namespace": "models"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})],
     [resource("kubernetes:core/v1:Namespace", {"metadata": {"name": "models"}}),
      resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", {"metadata": {"namespace": "models"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})]),
]


@pytest.mark.parametrize(("name", "good", "bad"), STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_stack_rule_both_ways(name: str, good: list, bad: list) -> None:
    """The stack rule passes the compliant graph and reports the non-compliant one."""
    assert run_stack(name, good) == []
    reported = run_stack(name, bad)
    assert len(reported) == 1 and " Why: " in reported[0] and " Fix: " in reported[0]


def test_each_service_log_group_must_be_declared() -> None:
    """An EKS cluster or an RDS instance whose group is not declared is reported, each with the group's name."""
    cluster = resource("aws:eks/cluster:Cluster", {**CLUSTER, "name": "mlp-prod"})
    declared = resource("aws:rds/instance:Instance", {"identifier": "db", "enabledCloudwatchLogsExports": ["postgresql"]})
    instance = resource("aws:rds/instance:Instance", {"identifier": "db", "enabledCloudwatchLogsExports": ["postgresql", "upgrade"]})
    postgresql = resource("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/rds/instance/db/postgresql"})
    (only,) = run_stack("service-log-groups-declared", [cluster, declared, postgresql])
    assert "/aws/eks/mlp-prod/cluster" in only
    (only,) = run_stack("service-log-groups-declared", [instance, postgresql])
    assert "/aws/rds/instance/db/upgrade" in only and "/aws/rds/instance/db/postgresql" not in only
    assert run_stack("service-log-groups-declared", [resource("aws:rds/instance:Instance", {"identifierPrefix": "db-"})]) == []


def test_s3_rules_accept_the_deprecated_v2_tokens() -> None:
    """Buckets and encryption configurations declared with the ...V2 tokens are joined too."""
    assert run_stack("s3-bucket-encryption", bucket_set(v2=True)) == []
    assert len(run_stack("s3-bucket-encryption", bucket_set(v2=True, sse=False))) == 1


def test_bare_v7_bucket_fails_every_s3_rule() -> None:
    """A bare aws.s3.Bucket with no companions fails encryption, public access block, versioning and TLS."""
    bare = bucket_set(sse=False, block=False, versioning=False, tls=False)
    for name in ("s3-bucket-encryption", "s3-bucket-public-access-block", "s3-bucket-versioning", "s3-bucket-tls-only"):
        assert len(run_stack(name, bare)) == 1, name


def test_pack_shape() -> None:
    """At least 20 kebab-case policies, each with an explicit level, a severity and remediation steps."""
    assert len(POLICIES) >= 20
    assert len({p.name for p in POLICIES}) == len(POLICIES)
    for policy in POLICIES:
        assert policy.name == policy.name.lower() and " " not in policy.name
        assert policy.enforcement_level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY), policy.name
        assert policy.severity is not None and policy.remediation_steps, policy.name
    assert BY_NAME["gpu-node-budget"].enforcement_level is EnforcementLevel.ADVISORY
    assert BY_NAME["eks-endpoint-restricted"].enforcement_level is EnforcementLevel.MANDATORY
    # Every rule has a both-ways case: here or in test_pack_coverage.py (test_every_rule_is_tested_both_ways).


@pytest.mark.parametrize("stack", offline.STACKS)
def test_every_stack_passes_the_pack(stack: str, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The resource graph of every stack has no mandatory violation."""
    violations = evaluate(stack_runs[stack])
    assert [v for v in violations if v.level == "mandatory"] == []


def test_preview_json_carries_the_same_report_as_the_policy_tool(capsys: pytest.CaptureFixture[str]) -> None:
    """`tooling.preview --outputs-json --policy` (what the demo runs) gives the policy tool's report from one run."""
    assert preview.main(["--stack", "dev", "--outputs-json", "--policy"]) == 0
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = offline.run("dev")
    assert document["policy"] == {"report": report("dev", evaluate(run)), "mandatory": 0}
    assert document["total"] == len(run.resources)


def test_public_endpoint_forced_through_is_caught() -> None:
    """A world-open EKS endpoint (allowed by config outside prod) is a mandatory violation."""
    run = offline.run("dev", {"publicAccessCidrs": ["0.0.0.0/0"]})
    violations = [v for v in evaluate(run) if v.level == "mandatory"]
    assert [v.policy for v in violations] == ["eks-endpoint-restricted"]
    assert violations[0].urn.endswith("aws:eks/cluster:Cluster::mlp-dev")


def test_untainted_gpu_group_forced_through_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU node group that slipped past config without its taint fails gpu-nodes-tainted."""
    from types import SimpleNamespace

    from infra import gpu
    from infra.components import node_group

    # The node groups taint with another key; the pack still holds them to the platform's GPU taint.
    monkeypatch.setattr(node_group, "gpu", SimpleNamespace(**{**vars(gpu), "TAINT": {"key": "dedicated", "value": "gpu", "effect": "NO_SCHEDULE"}}))
    violations = [v for v in evaluate(offline.run("staging")) if v.level == "mandatory"]
    assert {v.policy for v in violations} == {"gpu-nodes-tainted"} and len(violations) == 2


def test_gpu_budget_is_an_advisory() -> None:
    """A GPU group above the budget is reported as an advisory, not a blocker."""
    groups = json.loads(offline.stack_config("prod")["mlplatform:nodeGroups"])
    groups[3]["maxSize"] = 40
    violations = evaluate(offline.run("prod", {"nodeGroups": groups}))
    assert [(v.policy, v.level) for v in violations] == [("gpu-node-budget", "advisory")]


def test_prod_is_decided_by_the_stack_name_as_well_as_the_setting() -> None:
    """A resource of a stack named prod is prod even when its provider is tagged staging (a mislabelled stack file)."""
    from types import SimpleNamespace

    from infra.config import covers_internet, is_prod_stack
    from policies.helpers import resource_environment

    tagged_staging = SimpleNamespace(props={"defaultTags": {"tags": {"environment": "staging"}}})
    for stack, expected in (("prod", "prod"), ("eu-prod", "prod"), ("staging", "staging"), ("product", "staging")):
        args = SimpleNamespace(urn=f"urn:pulumi:{stack}::mlplatform::aws:s3/bucket:Bucket::b", provider=tagged_staging)
        assert resource_environment(args) == expected, stack
    assert is_prod_stack("prod-eu") and not is_prod_stack("preprod2")
    assert covers_internet(["0.0.0.0/1", "128.0.0.0/1"]) and covers_internet(["0.0.0.0/0"])
    assert not covers_internet(["0.0.0.0/1", "192.168.0.0/16"]) and not covers_internet(["10.0.0.0/8"])


def test_rds_needs_the_platforms_key_and_the_cluster_security_group() -> None:
    """Both ways: the program's database passes; the AWS-managed key and a CIDR ingress are each refused."""
    from policies import rds

    run = offline.run("prod")
    (instance,) = run.of_type(rds.RDS)
    assert run_resource("rds-storage-encrypted", rds.RDS, instance.inputs) == []
    assert "AWS-managed key" in run_resource("rds-storage-encrypted", rds.RDS, {**instance.inputs, "kmsKeyId": None})[0]
    (group,) = [g for g in run.of_type(rds.SECURITY_GROUP) if "mlflow-db" in g.name]
    assert run_resource("rds-reachable-from-the-cluster-only", rds.SECURITY_GROUP, group.inputs) == []
    opened = [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": ["10.30.0.0/16"]}]
    assert "10.30.0.0/16" in run_resource("rds-reachable-from-the-cluster-only", rds.SECURITY_GROUP, {"ingress": opened})[0]
