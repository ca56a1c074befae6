"""The External Secrets Operator 2.9.0 (AWS stacks): the platform's credentials from AWS Secrets Manager.

- The pinned chart, its controller on the operator's IRSA role (the ClusterSecretStore names no auth, so the
  controller uses its own pod's web identity); the webhook's certificate from the chart's cert-controller.
- :data:`credentials.STORE_NAME`: one ClusterSecretStore for the stack's Secrets Manager.
- Per generated credential, a Password generator and a PushSecret that writes its value into the empty secret
  (components/platform_secrets.py) once (``updatePolicy: IfNotExists``: a value already there, first or
  rotated, is never overwritten) and never deletes it (``deletionPolicy: None``).
- The consumers' ExternalSecrets are made by :class:`infra.credentials.Synced` where each consumer declares
  its Secret; they wait for this component.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import credentials, flows, versions
from infra.components.pinned_release import pinned_release
from infra.credentials import Credential
from infra.placement import ANYWHERE, PLATFORM, Placement
from infra.workloads import EXTERNAL_SECRETS

RELEASE_NAME = "external-secrets"
GENERATOR_API = "generators.external-secrets.io/v1alpha1"
PUSH_SECRET_API = "external-secrets.io/v1alpha1"
MONITOR_API = "monitoring.coreos.com/v1"
# The Password generator's output key (its default secretKeys).
GENERATED_KEY = "password"


def _bounds(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, dict[str, str]]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def chart_values(role_arn: str, placement: Placement = ANYWHERE) -> dict[str, Any]:
    """The chart's values: IRSA on the controller, two replicas of each part with drain-friendly PDBs, bounded, metrics
    served, each part placed by ``placement`` (its pods by the chart's app.kubernetes.io/name at 2.9.0)."""
    (service_account,) = EXTERNAL_SECRETS.service_accounts

    def part(pods: dict[str, str]) -> dict[str, Any]:
        return {"replicaCount": 2, "podDisruptionBudget": {"enabled": True, "minAvailable": 1}, "nodeSelector": placement.node_selector,
                "priorityClassName": PLATFORM.name, "topologySpreadConstraints": placement.spread(pods)}

    return {
        "installCRDs": True,
        **part(flows.EXTERNAL_SECRETS_PODS),
        # Two controllers: one leads, the other waits (else both reconcile every ExternalSecret).
        "leaderElect": True,
        "serviceAccount": {"create": True, "name": service_account, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        # The ClusterSecretStore uses the controller's own credentials: no token requests for other service accounts.
        "rbac": {"serviceAccountTokenCreate": False},
        "resources": _bounds("50m", "128Mi", "500m", "512Mi"),
        # The controller's metrics Service (the program's ServiceMonitor selects it when the stack has monitoring).
        "metrics": {"service": {"enabled": True, "port": flows.EXTERNAL_SECRETS_METRICS_PORT}},
        "webhook": {**part(flows.EXTERNAL_SECRETS_WEBHOOK_PODS), "port": flows.EXTERNAL_SECRETS_WEBHOOK_PORT, "resources": _bounds("20m", "64Mi", "200m", "256Mi")},
        "certController": {**part({"app.kubernetes.io/name": f"{RELEASE_NAME}-cert-controller"}), "resources": _bounds("20m", "64Mi", "200m", "256Mi")},
    }


def store_spec(region: str) -> dict[str, Any]:
    """The ClusterSecretStore: this region's Secrets Manager, with the controller's own (IRSA) credentials."""
    return {"provider": {"aws": {"service": "SecretsManager", "region": region}}}


def generator_spec(credential: Credential) -> dict[str, Any]:
    """A Password generator: letters and digits only (the values go into URIs, ini and textproto files unescaped)."""
    return {"length": credential.length, "digits": credential.length // 4, "symbols": 0, "noUpper": False, "allowRepeat": True}


def push_secret_spec(name: str, remote_name: str) -> dict[str, Any]:
    """Push the generator's value into ``remote_name`` if it has none yet; never overwrite or delete it."""
    return {
        "refreshInterval": credentials.REFRESH_INTERVAL,
        "updatePolicy": "IfNotExists",
        "deletionPolicy": "None",
        "secretStoreRefs": [{"kind": "ClusterSecretStore", "name": credentials.STORE_NAME}],
        "selector": {"generatorRef": {"apiVersion": GENERATOR_API, "kind": "Password", "name": name}},
        "data": [{
            "match": {"secretKey": GENERATED_KEY, "remoteRef": {"remoteKey": remote_name}},
            # A string value (what `aws secretsmanager put-secret-value --secret-string` writes on rotation), not binary.
            "metadata": {"apiVersion": "kubernetes.external-secrets.io/v1alpha1", "kind": "PushSecretMetadata",
                         "spec": {"secretPushFormat": "string"}},
        }],
    }


class ExternalSecretsOperator(pulumi.ComponentResource):
    """The operator, the stack's ClusterSecretStore and the generated credentials' first values."""

    ready: list[pulumi.Resource]

    def __init__(self, name: str, namespace: str, region: str, role_arn: pulumi.Input[str], generated: Mapping[Credential, str],
                 opts: pulumi.ResourceOptions | None = None, placement: Placement = ANYWHERE) -> None:
        """``generated``: each generated credential and its secret's name in Secrets Manager."""
        super().__init__("mlplatform:k8s:ExternalSecretsOperator", name, None, opts)
        values = pulumi.Output.from_input(role_arn).apply(lambda arn: chart_values(arn, placement))
        release = pinned_release(name, versions.EXTERNAL_SECRETS, namespace, values, parent=self, release_name=RELEASE_NAME)
        # Its CRDs and webhook come with the release.
        after = pulumi.ResourceOptions(parent=self, depends_on=[release])
        store = k8s.apiextensions.CustomResource(
            f"{name}-store", api_version="external-secrets.io/v1", kind="ClusterSecretStore",
            metadata={"name": credentials.STORE_NAME, "annotations": dict(credentials.WAIT_FOR)}, spec=store_spec(region), opts=after,
        )
        pushes = []
        for credential, remote_name in generated.items():
            generator_name = credential.key.replace("_", "-")
            generator = k8s.apiextensions.CustomResource(
                f"{name}-{generator_name}-generator", api_version=GENERATOR_API, kind="Password",
                metadata={"name": generator_name, "namespace": namespace}, spec=generator_spec(credential), opts=after,
            )
            pushes.append(k8s.apiextensions.CustomResource(
                f"{name}-{generator_name}-push", api_version=PUSH_SECRET_API, kind="PushSecret",
                metadata={"name": generator_name, "namespace": namespace, "annotations": dict(credentials.WAIT_FOR)},
                spec=push_secret_spec(generator_name, remote_name),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[release, store, generator]),
            ))
        self.release = release
        # What an ExternalSecret waits for: the store, and every generated value written.
        self.ready = [store, *pushes]
        self.register_outputs({})

    def monitor(self, namespace: str, release_label: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        """A ServiceMonitor of the controller's metrics, declared after the monitoring stack's CRDs (the chart's own
        would make this release wait for kube-prometheus-stack, whose Grafana waits for its admin Secret from here)."""
        return k8s.apiextensions.CustomResource(
            f"{RELEASE_NAME}-metrics", api_version=MONITOR_API, kind="ServiceMonitor",
            metadata={"name": f"{RELEASE_NAME}-metrics", "namespace": namespace, "labels": {"release": release_label}},
            spec={
                "selector": {"matchLabels": dict(flows.EXTERNAL_SECRETS_PODS)},
                "namespaceSelector": {"matchNames": [namespace]},
                "endpoints": [{"port": "metrics", "interval": "30s"}],
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self, depends_on=[self.release])),
        )
