"""Mutation test: insecure changes a reviewer could slip into a stack file, each caught by the config or the pack.

Each row changes one stack's config as an edit of its stack file would (the same merge), then runs the
config validation, the program and the policy pack. A row passes when the layer it names refuses it:
``config`` (one-line ConfigError before anything is declared) or ``pack`` (a mandatory violation of the
named policy). A change nothing catches fails the test.
"""

from __future__ import annotations

import json

import pytest
from pulumi_policy import EnforcementLevel

from infra import config
from policies.pack import POLICIES
from tooling import offline
from tooling.policy_report import evaluate

HALVES = ["0.0.0.0/1", "128.0.0.0/1"]
OUTSIDER = "arn:aws:iam::999999999999:role/contractor"
EVIL_MODEL = "https://models.example.net/fraud/model.joblib"


def _gpu_group_on_a_standard_ami() -> list[dict]:
    groups = json.loads(offline.stack_config("prod")["mlplatform:nodeGroups"])
    gpu = next(g for g in groups if g["role"] == "gpu")
    gpu["amiType"] = "AL2023_x86_64_STANDARD"
    return groups


def _spot_group_on_one_type() -> list[dict]:
    groups = json.loads(offline.stack_config("prod")["mlplatform:nodeGroups"])
    spot = next(g for g in groups if g["capacityType"] == "SPOT" and g["role"] == "cpu")
    spot["instanceTypes"] = spot["instanceTypes"][:1]
    return groups


# (id, stack, change, the layer that must catch it, what it must say: a policy name or a message fragment,
#  the mandatory rule the change would break)
MUTATIONS = [
    # The five an audit found slipping through.
    ("endpoint-open-by-halves", "staging", {"publicAccessCidrs": HALVES}, "pack", "eks-endpoint-restricted", "eks-endpoint-restricted"),
    ("prod-mlflow-without-auth", "prod", {"mlflowBasicAuth": False}, "config", "mlplatform:mlflowBasicAuth", "mlflow-auth-in-prod"),
    ("model-from-an-arbitrary-host", "staging", {"servingStorageUri": EVIL_MODEL}, "pack", "models-from-allowed-sources", "models-from-allowed-sources"),
    ("cluster-admin-in-another-account", "staging", {"clusterAdminArns": [OUTSIDER]}, "pack", "cluster-admins-in-account", "cluster-admins-in-account"),
    ("prod-claims-staging", "prod", {"environment": "staging", "protect": False, "rdsMultiAz": False}, "config",
     "stack prod is a prod stack", "s3-access-logging-in-prod"),
    # More of the same kind.
    ("prod-endpoint-open-by-halves", "prod", {"endpointPublicAccess": True, "publicAccessCidrs": HALVES}, "config",
     "mlplatform:publicAccessCidrs", "eks-endpoint-restricted"),
    ("staging-endpoint-open", "staging", {"publicAccessCidrs": ["0.0.0.0/0"]}, "pack", "eks-endpoint-restricted", "eks-endpoint-restricted"),
    ("prod-unprotected", "prod", {"protect": False}, "config", "mlplatform:protect", "stateful-resources-protected"),
    ("prod-buckets-force-destroyed", "prod", {"forceDestroyBuckets": True}, "config", "mlplatform:forceDestroyBuckets", "s3-no-force-destroy-in-prod"),
    ("prod-database-single-az", "prod", {"rdsMultiAz": False}, "config", "mlplatform:rdsMultiAz", "rds-multi-az-and-final-snapshot-in-prod"),
    ("prod-database-one-day-of-backups", "prod", {"rdsBackupRetentionDays": 1}, "config", "mlplatform:rdsBackupRetentionDays", "rds-backups-and-deletion-protection"),
    ("prod-database-in-cluster", "prod", {"database": "in-cluster"}, "config", "mlplatform:database", "rds-storage-encrypted"),
    ("canary-from-an-arbitrary-host", "staging",
     {"servingPredictorName": "v1", "servingCanaryName": "v2", "servingCanaryStorageUri": EVIL_MODEL}, "pack", "models-from-allowed-sources", "models-from-allowed-sources"),
    ("model-over-plain-http", "staging", {"servingStorageUri": "http://models.example.net/fraud"}, "config", "mlplatform:servingStorageUri", "models-from-allowed-sources"),
    ("prod-deployed-from-a-hosted-runner", "prod", {"ciRunnerLabels": ["ubuntu-24.04"]}, "config", "mlplatform:ciRunnerLabels", "eks-endpoint-restricted"),
    ("kubernetes-out-of-support", "prod", {"kubernetesVersion": "1.31"}, "config", "mlplatform:kubernetesVersion", "eks-supported-version"),
    ("gpu-group-without-the-driver", "prod", {"nodeGroups": "GPU_ON_STANDARD_AMI"}, "config", "amiType", None),
    ("spot-group-on-one-instance-type", "prod", {"nodeGroups": "SPOT_ON_ONE_TYPE"}, "config", "instanceTypes", "spot-nodes-diversified"),
    ("unbounded-serving", "staging", {"servingMaxReplicas": 500}, "config", "mlplatform:servingMaxReplicas", "inference-service-bounded"),
    ("gateway-in-kube-system", "staging", {"gatewayNamespace": "kube-system"}, "config", "mlplatform:gatewayNamespace",
     "models-gateway-not-a-system-namespace"),
    ("prod-model-from-another-bucket", "prod", {"servingStorageUri": "s3://someone-elses-bucket/fraud/artifacts"}, "pack",
     "models-from-allowed-sources", "models-from-allowed-sources"),
    ("step-image-by-tag", "staging", {"pipelineStepImageDigest": "latest"}, "config", "mlplatform:pipelineStepImageDigest",
     "images-pinned"),
]
GROUPS = {"GPU_ON_STANDARD_AMI": _gpu_group_on_a_standard_ami, "SPOT_ON_ONE_TYPE": _spot_group_on_one_type}


# Mandatory rules no stack-file key can break: the program declares what they check the same way
# on every stack (each is tested both ways in test_policies.py, and the committed stacks pass it).
FIXED_BY_THE_PROGRAM = {
    "s3-bucket-encryption": "components/secure_bucket.py: SSE-KMS on the platform key, SSE-S3 for the log bucket",
    "s3-bucket-public-access-block": "components/secure_bucket.py: all four blocks on every bucket",
    "s3-bucket-versioning": "components/secure_bucket.py: versioning on every bucket (noncurrentVersionDays only expires old ones)",
    "s3-bucket-tls-only": "components/secure_bucket.py: the deny-insecure-transport statement",
    "eks-control-plane-logging": "components/eks_cluster.py: every log type, to its KMS-encrypted group",
    "eks-secrets-encryption": "components/eks_cluster.py: envelope encryption with the platform key",
    "eks-vpc-cni-network-policy": "components/cluster_addons.py: the vpc-cni add-on's enableNetworkPolicy",
    "log-groups-encrypted": "components/eks_cluster.py: the log group on its own key",
    "service-log-groups-declared": "components/eks_cluster.py and rds_common.py: each exported log's group, declared first",
    "nodes-imdsv2-required": "components/node_group.py: the launch template's metadata options",
    "nodes-encrypted-volumes": "components/node_group.py: the launch template's encrypted root volume",
    "gpu-nodes-tainted": "components/node_group.py: gpu.TAINT on every gpu group (a node group has no taint key)",
    "node-role-least-privilege": "components/eks_cluster.py: the node role's managed policies",
    "rds-reachable-from-the-cluster-only": "components/rds_common.py: the security group's one source, the cluster's",
    "rds-not-public": "components/rds_common.py: publiclyAccessible false, private subnets",
    "rds-force-ssl": "components/rds_postgres.py: the parameter group's rds.force_ssl",
    "iam-no-wildcard-admin": "iam/: every policy names its actions and resources",
    "irsa-trust-scoped": "components/irsa_role.py: StringEquals on :sub and :aud",
    "github-oidc-trust-scoped": "bootstrap/account.py github_trust: StringEquals on the repository's exact subjects and :aud "
                                "(a bootstrap config cannot widen it: tests/infra/test_bootstrap.py plants the wildcard)",
    "namespace-pod-security-labels": "namespaces.py: the levels table",
    "namespace-default-deny": "components/platform_namespace.py: default-deny in every namespace",
    "containers-restricted": "workload_security.py and the charts' values",
    "containers-resources": "each component's requests and limits",
    "images-allowed-registries": "versions.py: the pinned images",
    "no-public-load-balancer": "the serving ingress is an ALB Ingress (internal by default), never a LoadBalancer Service",
    "releases-and-manifests-pinned": "versions.py: every chart and manifest pinned",
    "secrets-not-in-env-values": "every credential through secretKeyRef or a mounted file",
    "database-connections-use-tls": "cluster_layer.py: verify-full to the in-cluster Postgres, require to RDS; kubeflow_pipelines.py: MLMD's ssl_options",
    "network-policies-no-internet-ingress": "flows.py: ingress peers are namespaces or the VPC",
    # Out of a stack file's reach; test_pack_coverage.py makes each insecure edit on a copy of the graph.
    "nodes-no-ssh": "components/node_group.py: no remote_access",
    "nodes-private-subnets-only": "program.py: every node group gets network.private_subnet_ids",
    "eks-access-entries-only": "components/eks_cluster.py: access_config API, no bootstrap admin for the creator",
    "team-namespaces-bounded": "components/platform_namespace.py: a ResourceQuota and a LimitRange in the table's team namespaces",
    "platform-workloads-hardened": "workload_security.py on every workload the program declares",
}


def test_there_are_the_five_and_ten_more() -> None:
    assert len(MUTATIONS) >= 15 and len({m[0] for m in MUTATIONS}) == len(MUTATIONS)


def test_every_mandatory_rule_is_mutated_or_fixed_by_the_program() -> None:
    """Each mandatory rule has a stack-file change that would break it, or is out of a stack file's reach."""
    mandatory = {p.name for p in POLICIES if p.enforcement_level is EnforcementLevel.MANDATORY}
    mutated = {m[5] for m in MUTATIONS if m[5]}
    assert mutated <= mandatory and set(FIXED_BY_THE_PROGRAM) <= mandatory
    assert mutated.isdisjoint(FIXED_BY_THE_PROGRAM), mutated & set(FIXED_BY_THE_PROGRAM)
    assert mandatory - mutated - set(FIXED_BY_THE_PROGRAM) == set()


@pytest.mark.parametrize(("stack", "change", "layer", "expected"), [m[1:5] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_the_insecure_change_is_caught(stack: str, change: dict, layer: str, expected: str) -> None:
    """The stack as committed passes; with the change, the named layer refuses it, and only with the named violation."""
    change = {key: GROUPS[value]() if isinstance(value, str) and value in GROUPS else value for key, value in change.items()}
    try:
        run = offline.run(stack, change)
    except config.ConfigError as error:
        assert layer == "config", f"refused by the config, expected the pack: {error}"
        assert expected in str(error) and "\n" not in str(error), str(error)
        return
    assert layer == "pack", "the config let it through"
    mandatory = [v for v in evaluate(run) if v.level == "mandatory"]
    assert {v.policy for v in mandatory} == {expected}, f"expected exactly {expected}: {[(v.policy, v.message) for v in mandatory]}"
