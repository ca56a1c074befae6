"""In-cluster MinIO for stacks without S3 (the local stack): pinned chart and image, generated credentials.

MinIO's upstream repository is no longer maintained; S3 stays the production
path. The root credentials are generated with pulumi-random and only ever live
in a Kubernetes Secret and Pulumi's encrypted state.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import versions
from infra.object_store import MINIO_ROOT_SECRET, PASSWORD_KEY, USER_KEY

BUCKETS = ("data", "artifacts")
RESTRICTED_POD = {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


class Minio(pulumi.ComponentResource):
    """MinIO in its own namespace with the platform's two buckets."""

    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:Minio", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        user = random.RandomString(f"{name}-root-user", length=16, special=False, upper=False, opts=child)
        password = random.RandomPassword(f"{name}-root-password", length=40, special=False, opts=child)
        secret = k8s.core.v1.Secret(
            f"{name}-root",
            metadata={"name": MINIO_ROOT_SECRET, "namespace": namespace},
            string_data={USER_KEY: user.result, PASSWORD_KEY: password.result},
            opts=child,
        )
        image, tag = versions.IMAGES["minio"].rsplit(":", 1)
        client_image, client_tag = versions.IMAGES["minio-client"].rsplit(":", 1)
        k8s.helm.v3.Release(
            name,
            chart=versions.MINIO.chart,
            version=versions.MINIO.version,
            repository_opts={"repo": versions.MINIO.repo},
            namespace=namespace,
            values={
                "mode": "standalone",
                "image": {"repository": image, "tag": tag},
                "mcImage": {"repository": client_image, "tag": client_tag},
                "existingSecret": MINIO_ROOT_SECRET,
                "buckets": [{"name": bucket, "policy": "none", "versioning": True} for bucket in BUCKETS],
                "persistence": {"size": "20Gi"},
                "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                # Restricted pods throughout (the namespace enforces it): the server, and the post-install job
                # that creates the buckets (its mc config and /tmp are emptyDirs, writable as a non-root user).
                "securityContext": {"enabled": True, **RESTRICTED_POD},
                "containerSecurityContext": {"readOnlyRootFilesystem": False, **RESTRICTED_CONTAINER},
                "postJob": {"securityContext": {"enabled": True, **RESTRICTED_POD}},
                **{job: {"securityContext": {"enabled": True},
                         "containerSecurityContext": {"runAsNonRoot": True, "runAsUser": 1000, **RESTRICTED_CONTAINER},
                         "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}}}
                   for job in ("makeBucketJob", "makeUserJob")},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[secret]),
        )
        self.access_key = user.result
        self.secret_key = pulumi.Output.secret(password.result)
        self.register_outputs({})
