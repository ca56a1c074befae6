"""Kubeflow Pipelines 2.17.0 standalone, on the platform's object store.

The upstream kustomize ``cluster-scoped-resources`` and ``env/platform-agnostic`` at the
pinned ref, through the overlays in ``infra/manifests/kubeflow-pipelines``: every change to
upstream's objects is made there, in the rendered objects, so nothing of upstream's is patched live and no
field has two owners. What differs per stack is in three ConfigMaps this component owns whole
(the overlay drops upstream's ``kfp-launcher`` and points the API server at the first):

- ``mlplatform-object-store``: the API server's store address (OBJECTSTORECONFIG_* env);
- ``kfp-launcher``: the v2 launcher's pipeline root and S3 provider (IRSA, or MinIO's secret);
- ``artifact-repositories``: Argo's default artifact repository for the namespace.

KFP's MySQL takes TLS connections only, with a certificate of the program's CA
(infra/components/service_tls.py). The overlay mounts what this component creates: the key pair
(``mysql-tls``), the CA for the three clients (``mysql-ca``) and MLMD's connection config with
the password (``metadata-store-config``, a textproto of MLMD's ``MetadataStoreServerConfig``).
The Go servers verify the certificate; MLMD's client cannot (:func:`mlmd_server_config`).

KFP's service accounts with IRSA roles are the program's (IRSA_SERVICE_ACCOUNTS), created with their
role annotation before the overlay's Deployments; the cache webhook's certificate is cert-manager's
(upstream's env/cert-manager base), so KFP's objects wait for cert-manager (``after``).

The live changes are fields upstream does not set: the certificates' digests on the pod templates of
MySQL and its clients, so that a renewed certificate restarts them (MySQL and the clients read their
certificates at start).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra import paths
from infra.components.service_tls import TLS_CERT_ANNOTATION, service_certificates, sha256
from infra.credentials import KFP_MYSQL, Credentials
from infra.flows import MYSQL_PORT
from infra.object_store import PASSWORD_KEY, USER_KEY, ObjectStore
from infra.placement import ANYWHERE, Placement

# Pipeline steps run on the CPU nodes (Argo's workflowDefaults in the base overlay; a test checks they agree).
STEP_NODE_SELECTOR = {"mlplatform.io/role": "cpu"}
OBJECT_STORE_CONFIG = "mlplatform-object-store"
LAUNCHER_CONFIG = "kfp-launcher"
ARTIFACT_REPOSITORIES = "artifact-repositories"
ARTIFACT_REPOSITORY_KEY = "default-s3"
# The Secret KFP 2.17.0's MySQL clients read their credentials from (keys username, password), and that user.
MYSQL_SECRET, MYSQL_USER = "mysql-secret", "root"
# KFP 2.17.0's MySQL as its pipeline-install-config names it, and its pipelines' and MLMD's databases there
# (pipelineDb, mlmdDb).
MYSQL_SERVICE, PIPELINES_DATABASE, MLMD_DATABASE = "mysql", "mlpipeline", "metadb"
# What the overlay (infra/manifests/kubeflow-pipelines/base) mounts; tests/conformance checks they agree.
MYSQL_TLS_SECRET = "mysql-tls"
MYSQL_CA_CONFIG_MAP = "mysql-ca"
MYSQL_CA_FILE = "/etc/mysql-ca/ca.crt"
MLMD_CONFIG_SECRET = "metadata-store-config"
MLMD_CONFIG_FILE = "config.pbtxt"
# Where Argo archives a step's logs and artifacts in the bucket; the UI reads archived logs from the same keys.
ARGO_KEY_FORMAT = "pipelines/artifacts/{{workflow.name}}/{{pod.name}}"
# The service accounts that may get IRSA roles: the program's, not upstream's (the base overlay drops those),
# so that each exists with its role annotation before any pod of its is created.
IRSA_SERVICE_ACCOUNTS = ("ml-pipeline", "ml-pipeline-ui", "pipeline-runner")
# The deployments that connect to MySQL, by container; each restarts when the CA changes.
MYSQL_CLIENTS = {"ml-pipeline": "ml-pipeline-api-server", "cache-server": "server", "metadata-grpc-deployment": "container"}


def overlay(store: ObjectStore, placement: Placement = ANYWHERE) -> str:
    """The overlay of infra/manifests/kubeflow-pipelines for this store and placement (``-system``: components/system)."""
    return f"{store.kind}-system" if placement.pinned else store.kind


def launcher_providers(store: ObjectStore) -> str:
    """The kfp-launcher provider config: fromEnv (IRSA) on S3, a secret reference on MinIO."""
    if store.is_minio:
        config = {
            "endpoint": store.address, "disableSSL": True, "region": store.region, "forcePathStyle": True,
            "credentials": {"fromEnv": False, "secretRef": {"secretName": store.credentials_secret,
                                                            "accessKeyKey": USER_KEY, "secretKeyKey": PASSWORD_KEY}},
        }
    else:
        config = {"endpoint": store.address, "disableSSL": False, "region": store.region, "credentials": {"fromEnv": True}}
    return yaml.safe_dump({"s3": {"default": config}}, sort_keys=True)


def argo_artifact_repository(store: ObjectStore, bucket: str) -> str:
    """Argo's artifact repository: useSDKCreds (IRSA) on S3, a secret on MinIO."""
    s3: dict = {"bucket": bucket, "keyFormat": ARGO_KEY_FORMAT, "region": store.region}
    if store.is_minio:
        s3 |= {"endpoint": store.address, "insecure": True,
               "accessKeySecret": {"name": store.credentials_secret, "key": USER_KEY},
               "secretKeySecret": {"name": store.credentials_secret, "key": PASSWORD_KEY}}
    else:
        s3 |= {"endpoint": store.address, "useSDKCreds": True}
    return yaml.safe_dump({"archiveLogs": True, "s3": s3}, sort_keys=True)


def mlmd_server_config(password: str) -> str:
    """MLMD's ``MetadataStoreServerConfig`` (text format): MySQL over TLS.

    Upstream passes the same connection as flags (``--mysql_config_*``), which have no TLS options;
    the schema migration is upstream's ``--enable_database_upgrade=true``.

    Encrypted, not authenticated: MLMD 1.14.0's MySQL client (MariaDB Connector/C 3.0.8 built on
    BoringSSL) asks ``X509_check_host`` with a name length of 0, which BoringSSL reads as an empty
    name, so ``verify_server_cert: true`` refuses every certificate (scripts/check_kfp_mysql_tls.py
    shows it); without it the client checks no chain either. The CA file is named all the same: it
    is what turns the client's TLS on.
    """
    return (
        "connection_config {\n"
        "  mysql {\n"
        f"    host: {json.dumps(MYSQL_SERVICE)}\n"
        f"    port: {MYSQL_PORT}\n"
        f"    database: {json.dumps(MLMD_DATABASE)}\n"
        f"    user: {json.dumps(MYSQL_USER)}\n"
        f"    password: {json.dumps(password)}\n"
        f"    ssl_options {{ ca: {json.dumps(MYSQL_CA_FILE)} verify_server_cert: false }}\n"
        "  }\n"
        "}\n"
        "migration_options { enable_upgrade_migration: true }\n"
    )


class KubeflowPipelines(pulumi.ComponentResource):
    """KFP at http://ml-pipeline.<namespace>.svc.cluster.local:8888."""

    api_url: str

    def __init__(
        self,
        name: str,
        namespace: str,
        store: ObjectStore,
        role_arns: Mapping[str, pulumi.Input[str]] | None,
        credentials: Credentials,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
        placement: Placement = ANYWHERE,
    ) -> None:
        """``after``: what KFP's objects need first (cert-manager, which issues the cache webhook's certificate)."""
        super().__init__("mlplatform:k8s:KubeflowPipelines", name, None, opts)
        unknown = sorted(set(role_arns or {}) - set(IRSA_SERVICE_ACCOUNTS))
        if unknown:
            raise ValueError(f"IRSA roles for {unknown}, which are not among KFP's program-owned service accounts {IRSA_SERVICE_ACCOUNTS}")
        child = pulumi.ResourceOptions(parent=self)
        bucket = store.artifacts_bucket
        # KFP's MySQL with the stack's root credential (upstream ships root with an empty one; infra/credentials.py:
        # on AWS synced from Secrets Manager). Its clients, the API server, the cache server and MLMD's gRPC server,
        # read it from these Secrets; MySQL itself takes it at first start (infra/manifests/kubeflow-pipelines/base).
        # Only they may reach it (flows.py).
        mysql_password = credentials.value(KFP_MYSQL, f"{name}-mysql-root", child)
        certificates = service_certificates(f"{name}-mysql", MYSQL_SERVICE, namespace, child)
        # The per-stack configuration first: MySQL, its clients and the launcher read it at start.
        configs = [
            credentials.secret(f"{name}-mysql", MYSQL_SECRET, namespace, {"username": MYSQL_USER, "password": mysql_password}, child),
            k8s.core.v1.Secret(
                f"{name}-mysql-tls",
                metadata={"name": MYSQL_TLS_SECRET, "namespace": namespace},
                type="kubernetes.io/tls",
                string_data={"tls.crt": certificates.server_cert, "tls.key": certificates.server_key},
                opts=child,
            ),
            k8s.core.v1.ConfigMap(
                f"{name}-mysql-ca",
                metadata={"name": MYSQL_CA_CONFIG_MAP, "namespace": namespace},
                data={PurePosixPath(MYSQL_CA_FILE).name: certificates.ca_cert},
                opts=child,
            ),
            credentials.secret(f"{name}-mlmd-config", MLMD_CONFIG_SECRET, namespace,
                               {MLMD_CONFIG_FILE: pulumi.Output.from_input(mysql_password).apply(mlmd_server_config)}, child),
            k8s.core.v1.ConfigMap(
                f"{name}-object-store",
                metadata={"name": OBJECT_STORE_CONFIG, "namespace": namespace},
                data={"host": store.host, "port": str(store.port), "secure": json.dumps(not store.is_minio), "region": store.region,
                      "bucket": bucket, "keyFormat": ARGO_KEY_FORMAT},
                opts=child,
            ),
            k8s.core.v1.ConfigMap(
                f"{name}-launcher",
                metadata={"name": LAUNCHER_CONFIG, "namespace": namespace},
                data={"defaultPipelineRoot": bucket.apply(lambda b: f"s3://{b}/pipelines"), "providers": launcher_providers(store)},
                opts=child,
            ),
            k8s.core.v1.ConfigMap(
                f"{name}-artifact-repositories",
                metadata={
                    "name": ARTIFACT_REPOSITORIES,
                    "namespace": namespace,
                    # Argo uses this entry for every workflow of the namespace that names no repository.
                    "annotations": {"workflows.argoproj.io/default-artifact-repository": ARTIFACT_REPOSITORY_KEY},
                },
                data={ARTIFACT_REPOSITORY_KEY: bucket.apply(lambda b: argo_artifact_repository(store, b))},
                opts=child,
            ),
            # One IRSA role per workload: the steps and the API server write, the UI only reads.
            *[
                k8s.core.v1.ServiceAccount(
                    f"{name}-{account}",
                    metadata={"name": account, "namespace": namespace,
                              **({"annotations": {"eks.amazonaws.com/role-arn": role_arns[account]}} if account in (role_arns or {}) else {})},
                    opts=child,
                )
                for account in IRSA_SERVICE_ACCOUNTS
            ],
        ]
        cluster_scoped = k8s.kustomize.v2.Directory(
            f"{name}-cluster-scoped",
            directory=paths.for_engine(paths.KFP_MANIFESTS / "cluster-scoped"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        platform = k8s.kustomize.v2.Directory(
            f"{name}-platform-agnostic",
            directory=paths.for_engine(paths.KFP_MANIFESTS / overlay(store, placement)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_scoped, *configs, *after]),
        )
        # A renewed certificate restarts MySQL; a renewed CA restarts its clients too.
        restarts = {"mysql": certificates.server_cert, **dict.fromkeys(MYSQL_CLIENTS, certificates.ca_cert)}
        for deployment, pem in restarts.items():
            k8s.apps.v1.DeploymentPatch(
                f"{name}-{deployment}-tls-digest",
                metadata={"name": deployment, "namespace": namespace},
                spec={"template": {"metadata": {"annotations": {TLS_CERT_ANNOTATION: sha256(pem)}}}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[platform]),
            )
        self.api_url = f"http://ml-pipeline.{namespace}.svc.cluster.local:8888"
        self.register_outputs({"api_url": self.api_url})
