"""The feature store's online feature server: the pinned Feast chart, restricted, under its own identity.

The chart (infra/versions.py FEAST_FEATURE_SERVER) runs ``feast serve`` with ``feature_store.yaml`` from its
``feature_store_yaml_base64`` value; it creates no service account, so this component creates one (IRSA on AWS) and
names it. Every value below is a key of the chart at its pin (tests/conformance/test_values.py checks them).
The server's ``feature_store.yaml`` is also what the training pipeline's feature steps get (``FeatureServer.feature_store_yaml``):
one configuration, so the steps write the registry and the online store that the server reads.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import feature_store, versions
from infra import namespaces as ns
from infra.components.cluster_postgres import CA_CONFIG_MAP, ClusterPostgres
from infra.components.feast_database import FeastDatabase
from infra.components.pinned_release import pinned_release
from infra.config import Settings
from infra.object_store import ObjectStore
from infra.placement import ANYWHERE, PLATFORM, Placement
from infra.workload_security import container_security, pod_security
from infra.workloads import FEATURE_SERVER
from pipelines.features import repo

RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
TMP = "/tmp"


def chart_values(config_base64: pulumi.Input[str], env: list[dict[str, Any]], replicas: int, monitoring: bool,
                 postgres_ca_config_map: str = "", placement: Placement = ANYWHERE) -> dict[str, Any]:
    """The chart's values: the pinned image, `feast serve` with the repository's flags (and its metrics where
    Prometheus scrapes them), the restricted pod, bounds, the service account and the environment."""
    repository, tag = versions.IMAGES["feast-feature-server"].rsplit(":", 1)
    (service_account,) = FEATURE_SERVER.service_accounts
    # A writable /tmp only: Feast writes feature_store.yaml to a temporary folder, and its metrics' multiprocess files.
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": TMP}]
    if postgres_ca_config_map:
        volumes.append({"name": "postgres-ca", "configMap": {"name": postgres_ca_config_map}})
        mounts.append({"name": "postgres-ca", "mountPath": feature_store.POSTGRES_CA_DIR, "readOnly": True})
    return {
        "replicaCount": replicas,
        "image": {"repository": repository, "tag": tag},
        "feature_store_yaml_base64": config_base64,
        "feast_mode": "online",
        "commandArgs": [*repo.server_command(), *(["--metrics"] if monitoring else [])],
        # The chart's switch for the Service's `metrics` port (8000), which the ServiceMonitor scrapes.
        "metrics": {"enabled": monitoring},
        "serviceAccount": {"name": service_account},
        "podSecurityContext": pod_security(uid=feature_store.SERVER_UID),
        "securityContext": container_security(),
        "resources": RESOURCES,
        "extraEnvs": [{"name": "HOME", "value": TMP}, {"name": "TMPDIR", "value": TMP}, *env],
        "volumes": volumes,
        "volumeMounts": mounts,
        # Where platform services run (infra/placement.py); the chart has no priorityClassName key (see FeatureServer).
        "nodeSelector": placement.node_selector,
    }


class FeatureServer(pulumi.ComponentResource):
    """Service account, the chart's release and (with monitoring) its ServiceMonitor, in ``namespace``."""

    url: str
    # The server's feature_store.yaml, as text: the training runs' `feature_store` parameter (infra/cluster_layer.py).
    feature_store_yaml: pulumi.Output[str]

    def __init__(self, name: str, namespace: str, values: dict[str, Any], role_arn: pulumi.Input[str] | None,
                 monitoring_release: str = "", opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:FeatureServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**feature_store.SERVER_PODS, "app.kubernetes.io/part-of": "mlplatform"}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": values["serviceAccount"]["name"], "namespace": namespace, "labels": labels,
                      "annotations": {"eks.amazonaws.com/role-arn": role_arn} if role_arn else {}},
            # It calls no Kubernetes API (IRSA's token is a projected volume of its own).
            automount_service_account_token=False,
            opts=child,
        )
        release = pinned_release(name, versions.FEAST_FEATURE_SERVER, namespace, values, self, feature_store.RELEASE, [account])
        # feast-feature-server 0.66.0 has no key for the pod's priority and its template sets none: the program owns it.
        k8s.apps.v1.DeploymentPatch(
            f"{name}-priority",
            metadata={"name": feature_store.SERVICE, "namespace": namespace},
            spec={"template": {"spec": {"priorityClassName": PLATFORM.name}}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),
        )
        if monitoring_release:
            k8s.apiextensions.CustomResource(
                f"{name}-servicemonitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata={"name": feature_store.SERVICE, "namespace": namespace, "labels": {**labels, "release": monitoring_release}},
                spec={
                    "selector": {"matchLabels": dict(feature_store.SERVER_PODS)},
                    "endpoints": [{"port": feature_store.METRICS_PORT_NAME, "interval": "30s"}],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),
            )
        self.url = feature_store.server_url()
        self.feature_store_yaml = pulumi.Output.from_input(values["feature_store_yaml_base64"]).apply(
            lambda encoded: base64.b64decode(encoded).decode())
        self.register_outputs({"url": self.url, "feature_store_yaml": self.feature_store_yaml})


def declare(settings: Settings, store: ObjectStore, role_arn: pulumi.Input[str] | None, postgres: ClusterPostgres | None,
            monitoring_release: str, in_ns: Callable[..., pulumi.ResourceOptions], after: Sequence[pulumi.Resource] = (),
            dynamodb_endpoint: pulumi.Output[str] | None = None) -> FeatureServer:
    """This stack's feature store in the cluster: on the local stack its database in ``postgres`` first (and the CA to
    verify it, here and for the feature steps in kubeflow), then the feature server over the stack's bucket and online
    store (DynamoDB through ``dynamodb_endpoint``, the VPC's interface endpoint, where there is one).
    ``in_ns(*namespaces, after=...)`` gives the options of a resource in those namespaces (cluster_layer.build's)."""
    space, waits_for = ns.FEAST.name, list(after)
    postgres_host, ca_config_map = "", ""
    if feature_store.online_kind(settings) == "postgres":
        assert postgres is not None, "the local online store is the in-cluster PostgreSQL (database: in-cluster)"
        database = FeastDatabase("feast-database", ns.POSTGRES.name, postgres.host, (space, ns.KUBEFLOW.name),
                                 in_ns(ns.POSTGRES.name, after=[postgres]), in_ns(space, ns.KUBEFLOW.name))
        ca = postgres.ca_config_map(space, in_ns(space))
        # The feature steps in kubeflow verify the same server (pipelines/fraud/feature_steps.py mounts this ConfigMap).
        postgres.ca_config_map(ns.KUBEFLOW.name, in_ns(ns.KUBEFLOW.name))
        waits_for += [database.job, ca]
        postgres_host, ca_config_map = postgres.host, CA_CONFIG_MAP
    config = pulumi.Output.all(store.data_bucket, dynamodb_endpoint or "").apply(
        lambda args: feature_store.config_base64(args[0], feature_store.online_store(settings, postgres_host, args[1])))
    values = chart_values(config, feature_store.server_env(settings, store), 2 if settings.is_aws else 1, bool(monitoring_release),
                          ca_config_map, settings.placement)
    return FeatureServer("feast", space, values, role_arn, monitoring_release, in_ns(space, after=waits_for))
