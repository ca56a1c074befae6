"""The feature store as a platform component: where the feature server runs, how it reaches its stores, who reaches it.

The feature repository's own facts (project, registry layout, the server's port, the online store blocks, the one
writer of ``feature_store.yaml``) are pipelines/features/repo.py's; this module adds the platform's side, per stack:

- registry and offline store (parquet) on the platform's data bucket: S3 on AWS, MinIO locally;
- online store: DynamoDB on AWS (the table the program creates, components/online_store_table.py); locally the
  in-cluster PostgreSQL (its own database and user, verified TLS against the platform's CA), because it already runs,
  is backed up, speaks TLS only and is in the flows, where Redis would be a new stateful service with no pinned
  upstream chart;
- the feature server: the pinned chart (infra/versions.py) in namespace ``feast``, and the flows it needs.

Pure functions only: components/feature_server.py declares the resources.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml

from infra import namespaces as ns
from infra import versions
from infra.config import Settings
from infra.database_tls import CA_DIR, CA_FILE
from infra.flows import POSTGRES_PODS, POSTGRES_PORT, Flow, _to_aws_api, _to_object_store
from infra.object_store import ObjectStore
from pipelines.features import repo

# The chart's release: its name contains the chart's, so every object is named just this (feast-feature-server.fullname).
RELEASE = versions.FEAST_FEATURE_SERVER.name
SERVICE = RELEASE
# The chart's selector labels (feast-feature-server.selectorLabels: name = the chart's name, instance = the release).
SERVER_PODS = {"app.kubernetes.io/name": versions.FEAST_FEATURE_SERVER.name}
# `feast serve --metrics` serves Prometheus metrics here (feast/metrics.py start_metrics_server); the chart's Service
# names this port `metrics` when its metrics.enabled is on.
METRICS_PORT = 8000
METRICS_PORT_NAME = "metrics"
# The image's user (UBI9 python-311's 1001): the chart sets no user, so the pod names it to run as non-root.
SERVER_UID = 1001
# KServe labels a transformer's pods `component: transformer` (the serving chart's transformer option).
TRANSFORMER_PODS = {"component": "transformer"}
# The pipeline steps that write the feature store carry this label (pipelines/fraud/feature_steps.py): only they reach
# the online store. The online store's password Secret (local: the feast database user) and its key. repo.py owns them.
FEATURE_STEP_PODS = repo.FEATURE_STEP_PODS
POSTGRES_SECRET, POSTGRES_PASSWORD_KEY = repo.POSTGRES_SECRET, repo.POSTGRES_PASSWORD_KEY
# Verified TLS to the in-cluster PostgreSQL: its CA ConfigMap (components/cluster_postgres.py) mounted at its CA_DIR.
POSTGRES_CA_DIR, POSTGRES_CA_FILE = CA_DIR, CA_FILE
# The Job that creates the feature store's database and user in it (components/feast_database.py).
DATABASE_JOB_PODS = {"app.kubernetes.io/name": "feast-database"}


def online_kind(settings: Settings) -> str:
    """The online store per stack: DynamoDB on AWS (Feast's native one), the in-cluster PostgreSQL elsewhere."""
    return "dynamodb" if settings.is_aws else "postgres"


def table_name_template(settings: Settings) -> str:
    """Feast's ``table_name_template`` for this stack: its tables prefixed with the stack's name, so that stacks sharing
    an AWS account and region never share (or overwrite) an online store."""
    return f"{settings.name}-{{project}}.{{table_name}}"


def dynamodb_table(settings: Settings) -> str:
    """The DynamoDB table of the aggregates view on this stack (the program creates it, components/online_store_table.py)."""
    return table_name_template(settings).format(project=repo.PROJECT, table_name=repo.AGGREGATES_VIEW)


def server_url() -> str:
    """The feature server's in-cluster URL (the serving chart's transformer calls it)."""
    return f"http://{SERVICE}.{ns.FEAST.name}.svc.cluster.local:{repo.SERVICE_PORT}"


def online_store(settings: Settings, postgres_host: str, dynamodb_endpoint: str = "") -> dict[str, Any]:
    """The ``online_store`` block of this stack's ``feature_store.yaml``: DynamoDB through ``dynamodb_endpoint`` (the
    VPC's interface endpoint, components/dynamodb_endpoint.py) where there is one, else its public regional address."""
    if online_kind(settings) == "dynamodb":
        return repo.online_store("dynamodb", region=settings.aws_region, endpoint_url=dynamodb_endpoint) | {
            "table_name_template": table_name_template(settings)}
    return repo.online_store("postgres", host=postgres_host, port=POSTGRES_PORT, sslmode="verify-full") | {
        "sslrootcert_path": POSTGRES_CA_FILE}


def config_base64(data_bucket: str, online: dict[str, Any]) -> str:
    """The chart's ``feature_store_yaml_base64``: the repository's one ``feature_store.yaml`` on the data bucket."""
    document = yaml.safe_dump(repo.feature_store_yaml(f"s3://{data_bucket}", online), sort_keys=False)
    return base64.b64encode(document.encode()).decode()


def server_env(settings: Settings, store: ObjectStore) -> list[dict[str, Any]]:
    """The server's environment besides its configuration: the region, MinIO's endpoint and keys where the bucket is
    MinIO (none on S3: IRSA), and the online store's password where it is PostgreSQL (from a Secret, never the file)."""
    env: list[dict[str, Any]] = [{"name": "AWS_REGION", "value": settings.aws_region},
                                 {"name": "AWS_DEFAULT_REGION", "value": settings.aws_region}]
    if store.is_minio:
        env += [{"name": name, "value": store.endpoint_url} for name in repo.S3_ENDPOINT_ENVS]
        env += store.key_env()
    if online_kind(settings) == "postgres":
        env.append({"name": repo.POSTGRES_PASSWORD_ENV,
                    "valueFrom": {"secretKeyRef": {"name": POSTGRES_SECRET, "key": POSTGRES_PASSWORD_KEY}}})
    return env


def transformer_values() -> dict[str, Any]:
    """The serving chart's platform values for its transformer: where the feature server is, and the peer its
    NetworkPolicy lets the transformer pods reach (the platform admits them at the other end)."""
    return {"featureServerUrl": server_url(),
            "featureServer": {"namespace": ns.FEAST.name, "podLabels": dict(SERVER_PODS), "port": repo.SERVER_PORT}}


def _online_store_flow(name: str, source: str, pods: dict[str, str], settings: Settings, store: ObjectStore) -> Flow:
    """``pods`` of ``source`` to this stack's online store: DynamoDB through the VPC's interface endpoint where the
    program made the VPC (the AWS APIs' endpoints, ``store.endpoint_cidr``), else its public HTTPS addresses (no fixed
    range); or the in-cluster PostgreSQL."""
    if online_kind(settings) == "dynamodb":
        return _to_aws_api(f"{name}-to-dynamodb", source, store, pods)
    return Flow(f"{name}-to-feast-postgres", source, ns.POSTGRES.name, (POSTGRES_PORT,), dict(pods), POSTGRES_PODS)


def flows(settings: Settings, store: ObjectStore) -> list[Flow]:
    """Every connection of the feature store: transformers to the server, the server to its registry and online store,
    the feature steps to both stores, and Prometheus to the server's metrics."""
    found = [
        # The models namespace's egress is the serving chart's (transformer_values); the platform admits the other end.
        Flow("transformer-to-feature-server", ns.MODELS.name, ns.FEAST.name, (repo.SERVER_PORT,), dict(TRANSFORMER_PODS),
             dict(SERVER_PODS), source_managed=False),
        _to_object_store("feature-server", ns.FEAST.name, store, SERVER_PODS),
        _online_store_flow("feature-server", ns.FEAST.name, SERVER_PODS, settings, store),
        # The bucket is already the pipelines' (flows.platform_flows); the online store only the feature steps'.
        _online_store_flow("feature-steps", ns.KUBEFLOW.name, FEATURE_STEP_PODS, settings, store),
    ]
    if online_kind(settings) == "postgres":
        found.append(Flow("feast-database-to-postgres", ns.POSTGRES.name, ns.POSTGRES.name, (POSTGRES_PORT,),
                          dict(DATABASE_JOB_PODS), POSTGRES_PODS))
    if settings.monitoring:
        found.append(Flow("monitoring-to-feature-server", ns.MONITORING.name, ns.FEAST.name, (METRICS_PORT,),
                          target_pods=dict(SERVER_PODS)))
    return found
