"""Kubeflow Pipelines 2.17.0 standalone, on the platform's object store.

The upstream kustomize ``cluster-scoped-resources`` and ``env/platform-agnostic``
at the same pinned ref; then server-side-apply patches that point the API
server, the v2 launcher and Argo at S3 through IRSA (no static keys anywhere)
or at the local MinIO, and make pipeline steps run on the CPU spot nodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra import versions
from infra.workloads import PIPELINES

OVERLAY = "infra/manifests/kubeflow-pipelines"
STEP_NODE_SELECTOR = {"mlplatform.io/role": "cpu"}


@dataclass(frozen=True)
class PipelineStore:
    """KFP's artifact store: an S3 bucket (IRSA) or MinIO (generated keys in a secret)."""

    bucket: pulumi.Input[str]
    region: str
    endpoint: str = ""  # host:port for MinIO; empty for S3
    credentials_secret: str = ""

    @property
    def is_minio(self) -> bool:
        return bool(self.endpoint)


def launcher_providers(store: PipelineStore) -> str:
    """The kfp-launcher provider config: fromEnv (IRSA) on S3, a secret reference on MinIO."""
    if store.is_minio:
        config = {
            "endpoint": store.endpoint, "disableSSL": True, "region": store.region, "forcePathStyle": True,
            "credentials": {"fromEnv": False, "secretRef": {"secretName": store.credentials_secret,
                                                            "accessKeyKey": "rootUser", "secretKeyKey": "rootPassword"}},
        }
    else:
        config = {"endpoint": f"s3.{store.region}.amazonaws.com", "disableSSL": False, "region": store.region,
                  "credentials": {"fromEnv": True}}
    return yaml.safe_dump({"s3": {"default": config}}, sort_keys=True)


def argo_artifact_repository(store: PipelineStore, bucket: str) -> str:
    """Argo's artifact repository: useSDKCreds (IRSA) on S3, a secret on MinIO."""
    s3: dict = {"bucket": bucket, "keyFormat": "pipelines/artifacts/{{workflow.name}}/{{pod.name}}", "region": store.region}
    if store.is_minio:
        s3 |= {"endpoint": store.endpoint, "insecure": True,
               "accessKeySecret": {"name": store.credentials_secret, "key": "rootUser"},
               "secretKeySecret": {"name": store.credentials_secret, "key": "rootPassword"}}
    else:
        s3 |= {"endpoint": f"s3.{store.region}.amazonaws.com", "useSDKCreds": True}
    return yaml.safe_dump({"archiveLogs": True, "s3": s3}, sort_keys=True)


class KubeflowPipelines(pulumi.ComponentResource):
    """KFP at http://ml-pipeline.<namespace>.svc.cluster.local:8888."""

    api_url: str

    def __init__(
        self,
        name: str,
        namespace: str,
        store: PipelineStore,
        role_arn: pulumi.Input[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:k8s:KubeflowPipelines", name, None, opts)
        cluster_scoped = k8s.kustomize.v2.Directory(
            f"{name}-cluster-scoped",
            directory=f"{versions.KFP_MANIFESTS}/cluster-scoped-resources?ref={versions.KFP_VERSION}",
            opts=pulumi.ResourceOptions(parent=self),
        )
        platform = k8s.kustomize.v2.Directory(
            f"{name}-platform-agnostic",
            directory=OVERLAY,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_scoped]),
        )
        child = pulumi.ResourceOptions(parent=self, depends_on=[platform])
        if role_arn is not None:
            for account in PIPELINES.service_accounts:
                k8s.core.v1.ServiceAccountPatch(
                    f"{name}-{account}-irsa",
                    metadata={"name": account, "namespace": namespace,
                              "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
                    opts=child,
                )
        k8s.core.v1.ConfigMapPatch(
            f"{name}-launcher",
            metadata={"name": "kfp-launcher", "namespace": namespace},
            data={
                "defaultPipelineRoot": pulumi.Output.from_input(store.bucket).apply(lambda b: f"s3://{b}/pipelines"),
                "providers": launcher_providers(store),
            },
            opts=child,
        )
        k8s.core.v1.ConfigMapPatch(
            f"{name}-workflow-controller",
            metadata={"name": "workflow-controller-configmap", "namespace": namespace},
            data={
                "artifactRepository": pulumi.Output.from_input(store.bucket).apply(lambda b: argo_artifact_repository(store, b)),
                # Steps go to the CPU spot nodes unless a step asks otherwise.
                "workflowDefaults": yaml.safe_dump({"spec": {"nodeSelector": STEP_NODE_SELECTOR}}, sort_keys=True),
            },
            opts=child,
        )
        host, _, port = (store.endpoint or f"s3.{store.region}.amazonaws.com:443").partition(":")
        env = [
            {"name": "OBJECTSTORECONFIG_HOST", "value": host},
            {"name": "OBJECTSTORECONFIG_PORT", "value": port},
            {"name": "OBJECTSTORECONFIG_SECURE", "value": json.dumps(not store.is_minio)},
            {"name": "OBJECTSTORECONFIG_REGION", "value": store.region},
            {"name": "OBJECTSTORECONFIG_BUCKETNAME", "value": store.bucket},
        ]
        if store.is_minio:
            env += [
                {"name": "OBJECTSTORECONFIG_ACCESSKEY", "valueFrom": {"secretKeyRef": {"name": store.credentials_secret, "key": "rootUser"}}},
                {"name": "OBJECTSTORECONFIG_SECRETACCESSKEY", "valueFrom": {"secretKeyRef": {"name": store.credentials_secret, "key": "rootPassword"}}},
            ]
        k8s.apps.v1.DeploymentPatch(
            f"{name}-api-server-store",
            metadata={"name": "ml-pipeline", "namespace": namespace},
            spec={"template": {"spec": {"containers": [{"name": "ml-pipeline-api-server", "env": env}]}}},
            opts=child,
        )
        self.api_url = f"http://ml-pipeline.{namespace}.svc.cluster.local:8888"
        self.register_outputs({"api_url": self.api_url})
