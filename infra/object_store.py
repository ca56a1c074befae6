"""The object store, decided once per stack and handed to whoever needs it.

S3 (the AWS layer's buckets; workloads reach them with their IRSA roles, no keys) or an in-cluster
MinIO (the local stack; generated root keys in a Secret, copied into each client namespace). MLflow,
KFP, the network flows, the serving chart's values and the pipelines' parameters all read this one
value instead of deciding again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi

from infra import namespaces
from pipelines.cluster import OBJECT_STORE_CREDENTIALS_ENV, OBJECT_STORE_CREDENTIALS_SECRET

MINIO_SERVICE = "minio"
MINIO_PORT = 9000
MINIO_CONSOLE_PORT = 9001
MINIO_PODS = {"app": "minio"}
# MinIO's own root Secret (the chart's existingSecret) and its two keys, as the chart reads them.
MINIO_ROOT_SECRET = "minio-root"
USER_KEY, PASSWORD_KEY = OBJECT_STORE_CREDENTIALS_ENV
# The copy of the root keys in each namespace whose workloads use MinIO (MLflow, KFP, the pipelines' steps).
CLIENT_SECRET = OBJECT_STORE_CREDENTIALS_SECRET


@dataclass(frozen=True)
class ObjectStore:
    """The platform's two buckets and how to reach them."""

    kind: Literal["s3", "minio"]
    region: str
    data_bucket: pulumi.Output[str]
    artifacts_bucket: pulumi.Output[str]
    # S3 through the VPC's interface endpoint (private DNS): its addresses are in this CIDR. Empty: S3's
    # public addresses, which have no fixed range (an existing VPC whose endpoints are not the program's).
    endpoint_cidr: str = ""

    @property
    def is_minio(self) -> bool:
        return self.kind == "minio"

    @property
    def host(self) -> str:
        """The API's host name, as clients in the cluster address it."""
        return f"{MINIO_SERVICE}.{namespaces.MINIO.name}.svc.cluster.local" if self.is_minio else f"s3.{self.region}.amazonaws.com"

    @property
    def port(self) -> int:
        return MINIO_PORT if self.is_minio else 443

    @property
    def address(self) -> str:
        """``host:port`` where a client needs an endpoint without a scheme (KFP's launcher, Argo)."""
        return f"{self.host}:{self.port}" if self.is_minio else self.host

    @property
    def endpoint_url(self) -> str:
        """The endpoint URL a boto3/MLflow client needs; empty on S3 (the SDK's default for the region)."""
        return f"http://{self.host}:{self.port}" if self.is_minio else ""

    @property
    def credentials_secret(self) -> str:
        """The Secret with the keys in each client namespace; empty on S3 (IRSA)."""
        return CLIENT_SECRET if self.is_minio else ""

    def key_env(self) -> list[dict]:
        """The AWS SDK's key variables from the client Secret (none on S3: IRSA)."""
        if not self.is_minio:
            return []
        return [{"name": env, "valueFrom": {"secretKeyRef": {"name": CLIENT_SECRET, "key": key}}}
                for key, env in OBJECT_STORE_CREDENTIALS_ENV.items()]


def s3(region: str, data_bucket: pulumi.Output[str], artifacts_bucket: pulumi.Output[str], endpoint_cidr: str = "") -> ObjectStore:
    """The AWS layer's buckets, reached through the VPC endpoint in ``endpoint_cidr`` where there is one."""
    return ObjectStore("s3", region, data_bucket, artifacts_bucket, endpoint_cidr)


def minio(region: str, buckets: tuple[str, str]) -> ObjectStore:
    """In-cluster MinIO with its ``(data, artifacts)`` buckets."""
    data, artifacts = buckets
    return ObjectStore("minio", region, pulumi.Output.from_input(data), pulumi.Output.from_input(artifacts))
