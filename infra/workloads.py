"""The platform's workload identities: which namespace and service account each
workload runs as, and what it may touch in the object store.

The AWS layer writes these into IRSA trust policies; the cluster layer creates
the namespaces and service accounts with the matching role annotations. Keeping
both sides on one table is what makes "trust names the right service account"
checkable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infra import namespaces, versions
from pipelines.cluster import MLFLOW_ARTIFACTS_PREFIX
from pipelines.cluster import REQUEST_LOG_PREFIX as REQUEST_LOG_PREFIX_NAME
from pipelines.features import repo as feature_repo


@dataclass(frozen=True)
class Workload:
    """A workload that reaches AWS through its own IAM role (IRSA)."""

    name: str
    namespace: str
    service_accounts: tuple[str, ...]
    # Object-store access, as (bucket purpose, key prefix, "read" | "write" | "backup": put and get, never delete).
    grants: tuple[tuple[str, str, str], ...] = ()
    managed_policy_arns: tuple[str, ...] = ()
    # An inline policy for AWS APIs other than the object store (JSON), if any.
    inline_policy: str = ""
    # DynamoDB tables the program creates, as (table name, "read" | "write"); the role gets exactly these tables.
    tables: tuple[tuple[str, str], ...] = ()
    # Bucket purposes the workload checks exist (HeadBucket, which IAM authorizes as s3:ListBucket with no prefix).
    bucket_heads: tuple[str, ...] = ()

    @property
    def subjects(self) -> tuple[str, ...]:
        """The ``sub`` claims of the service accounts' projected tokens."""
        return tuple(f"system:serviceaccount:{self.namespace}:{sa}" for sa in self.service_accounts)


# Bucket purposes: data (training data sets) and artifacts (MLflow runs and
# models, KFP pipeline artifacts).
MLFLOW_PREFIX = f"{MLFLOW_ARTIFACTS_PREFIX}/"
PIPELINES_PREFIX = "pipelines/"
# The feature store's registry and offline data (pipelines/features/repo.py: <data bucket>/feast/...).
FEATURE_STORE_PREFIX = f"{feature_repo.PREFIX}/"
# The served models' request log (KServe's logger writes, the drift pipeline reads).
REQUEST_LOG_PREFIX = f"{REQUEST_LOG_PREFIX_NAME}/"

MLFLOW = Workload(
    name="mlflow",
    namespace="mlflow",
    service_accounts=("mlflow",),
    grants=(("artifacts", MLFLOW_PREFIX, "write"),),
)
PIPELINES = Workload(
    name="pipelines",
    namespace="kubeflow",
    # Pipeline steps run as pipeline-runner; the KFP API server stores pipeline packages and artifacts.
    service_accounts=("pipeline-runner", "ml-pipeline"),
    grants=(("data", "", "read"), ("artifacts", PIPELINES_PREFIX, "write"), ("artifacts", REQUEST_LOG_PREFIX, "read"),
            # The feature steps apply the registry, write the aggregates and materialize them into the online store.
            ("data", FEATURE_STORE_PREFIX, "write")),
    tables=((feature_repo.DYNAMODB_TABLE, "write"),),
)
# The KFP UI shows artifacts: its own role, which can only read them (it must not write or delete them).
PIPELINES_UI = Workload(
    name="pipelines-ui",
    namespace="kubeflow",
    service_accounts=("ml-pipeline-ui",),
    grants=(("artifacts", PIPELINES_PREFIX, "read"),),
)
SERVING = Workload(
    name="serving",
    namespace="models",
    service_accounts=("model-serving",),
    # Reads the models; KServe's logger (same pod, same identity) writes the requests.
    grants=(("artifacts", MLFLOW_PREFIX, "read"), ("artifacts", REQUEST_LOG_PREFIX, "write")),
)
# The feature server (infra/components/feature_server.py): reads the registry and the online store, never writes.
FEATURE_SERVER = Workload(
    name="feature-server",
    namespace=namespaces.FEAST.name,
    service_accounts=("feast-feature-server",),
    grants=(("data", FEATURE_STORE_PREFIX, "read"),),
    tables=((feature_repo.DYNAMODB_TABLE, "read"),),
    # Feast's S3 registry calls HeadBucket before reading the registry (feast/infra/registry/s3.py at 0.66.0).
    bucket_heads=("data",),
)
EBS_CSI = Workload(
    name="ebs-csi",
    namespace="kube-system",
    service_accounts=("ebs-csi-controller-sa",),
    managed_policy_arns=("arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",),
)

# The Cluster Autoscaler: reads every group and its launch templates, and resizes only the
# Auto Scaling groups tagged for it (EKS tags its managed node groups' ASGs so).
CLUSTER_AUTOSCALER = Workload(
    name="cluster-autoscaler",
    namespace="kube-system",
    service_accounts=("cluster-autoscaler",),
    inline_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadGroups",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                        "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
                        "eks:DescribeNodegroup",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "ResizeTaggedGroups",
                    "Effect": "Allow",
                    "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}},
                },
            ],
        },
        sort_keys=True,
    ),
)

# The AWS Load Balancer Controller: the ALBs in front of models (KServe's Ingresses), with the
# policy its release publishes, pinned beside its chart (infra/versions.py).
LOAD_BALANCER_CONTROLLER = Workload(
    name="load-balancer-controller",
    namespace="kube-system",
    service_accounts=("aws-load-balancer-controller",),
    inline_policy=json.dumps(
        json.loads((Path(__file__).resolve().parents[1] / versions.AWS_LOAD_BALANCER_CONTROLLER_IAM_POLICY).read_text()),
        sort_keys=True,
    ),
)

# The External Secrets Operator (AWS stacks): reads the platform's credentials in Secrets Manager and fills the
# generated ones. Its policy names exactly those secrets' ARNs (components/platform_secrets.py), known only there.
EXTERNAL_SECRETS = Workload(name="external-secrets", namespace="external-secrets", service_accounts=("external-secrets",))

WORKLOADS = (MLFLOW, PIPELINES, PIPELINES_UI, SERVING, FEATURE_SERVER, EBS_CSI, CLUSTER_AUTOSCALER, LOAD_BALANCER_CONTROLLER, EXTERNAL_SECRETS)
