"""Mutation test: insecure changes a reviewer could slip into a stack file, each caught by the config or the pack.

Each row changes one stack's config as an edit of its stack file would (the same merge), then runs the
config validation, the program and the policy pack. A row passes when the layer it names refuses it:
``config`` (one-line ConfigError before anything is declared) or ``pack`` (a mandatory violation of the
named policy). A change nothing catches fails the test.
"""

from __future__ import annotations

import json

import pytest

from infra import config
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


# (id, stack, change, the layer that must catch it, what it must say: a policy name or a message fragment)
MUTATIONS = [
    # The five an audit found slipping through.
    ("endpoint-open-by-halves", "staging", {"publicAccessCidrs": HALVES}, "pack", "eks-endpoint-restricted"),
    ("prod-mlflow-without-auth", "prod", {"mlflowBasicAuth": False}, "config", "mlplatform:mlflowBasicAuth"),
    ("model-from-an-arbitrary-host", "staging", {"servingStorageUri": EVIL_MODEL}, "pack", "models-from-allowed-sources"),
    ("cluster-admin-in-another-account", "staging", {"clusterAdminArns": [OUTSIDER]}, "pack", "cluster-admins-in-account"),
    ("prod-claims-staging", "prod", {"environment": "staging", "protect": False, "rdsMultiAz": False}, "config",
     "stack prod is a prod stack"),
    # More of the same kind.
    ("prod-endpoint-open-by-halves", "prod", {"endpointPublicAccess": True, "publicAccessCidrs": HALVES}, "config",
     "mlplatform:publicAccessCidrs"),
    ("staging-endpoint-open", "staging", {"publicAccessCidrs": ["0.0.0.0/0"]}, "pack", "eks-endpoint-restricted"),
    ("prod-unprotected", "prod", {"protect": False}, "config", "mlplatform:protect"),
    ("prod-buckets-force-destroyed", "prod", {"forceDestroyBuckets": True}, "config", "mlplatform:forceDestroyBuckets"),
    ("prod-database-single-az", "prod", {"rdsMultiAz": False}, "config", "mlplatform:rdsMultiAz"),
    ("prod-database-one-day-of-backups", "prod", {"rdsBackupRetentionDays": 1}, "config", "mlplatform:rdsBackupRetentionDays"),
    ("prod-database-in-cluster", "prod", {"database": "in-cluster"}, "config", "mlplatform:database"),
    ("canary-from-an-arbitrary-host", "staging",
     {"servingPredictorName": "v1", "servingCanaryName": "v2", "servingCanaryStorageUri": EVIL_MODEL}, "pack", "models-from-allowed-sources"),
    ("model-over-plain-http", "staging", {"servingStorageUri": "http://models.example.net/fraud"}, "config", "mlplatform:servingStorageUri"),
    ("prod-deployed-from-a-hosted-runner", "prod", {"ciRunnerLabels": ["ubuntu-24.04"]}, "config", "mlplatform:ciRunnerLabels"),
    ("kubernetes-out-of-support", "prod", {"kubernetesVersion": "1.31"}, "config", "mlplatform:kubernetesVersion"),
    ("gpu-group-without-the-driver", "prod", {"nodeGroups": "GPU_ON_STANDARD_AMI"}, "config", "amiType"),
    ("spot-group-on-one-instance-type", "prod", {"nodeGroups": "SPOT_ON_ONE_TYPE"}, "config", "instanceTypes"),
]
GROUPS = {"GPU_ON_STANDARD_AMI": _gpu_group_on_a_standard_ami, "SPOT_ON_ONE_TYPE": _spot_group_on_one_type}


def test_there_are_the_five_and_ten_more() -> None:
    assert len(MUTATIONS) >= 15 and len({m[0] for m in MUTATIONS}) == len(MUTATIONS)


@pytest.mark.parametrize(("stack", "change", "layer", "expected"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_the_insecure_change_is_caught(stack: str, change: dict, layer: str, expected: str) -> None:
    """The stack as committed passes; with the change, the named layer refuses it."""
    change = {key: GROUPS[value]() if isinstance(value, str) and value in GROUPS else value for key, value in change.items()}
    try:
        run = offline.run(stack, change)
    except config.ConfigError as error:
        assert layer == "config", f"refused by the config, expected the pack: {error}"
        assert expected in str(error) and "\n" not in str(error), str(error)
        return
    assert layer == "pack", "the config let it through"
    mandatory = [v for v in evaluate(run) if v.level == "mandatory"]
    assert expected in {v.policy for v in mandatory}, f"nothing caught it: {[(v.policy, v.message) for v in mandatory]}"
