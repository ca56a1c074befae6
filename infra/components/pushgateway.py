"""The Prometheus Pushgateway: where batch jobs (the model-drift pipeline) leave their metrics.

kube-prometheus-stack does not include it. One replica without persistence: the drift job
pushes its score every run, so a restart loses at most one schedule's value. Prometheus scrapes
it through a PodMonitor with ``honorLabels`` (the pushed ``namespace``/``model`` labels are kept,
which is what the serving chart's ``ModelDriftHigh`` rule selects on).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.flows import PUSHGATEWAY_PODS, PUSHGATEWAY_PORT
from infra.placement import ANYWHERE, Placement
from infra.workload_security import container_security, pod_security


def pushgateway_url(namespace: str) -> str:
    """The in-cluster URL the drift pipeline pushes to."""
    return f"http://pushgateway.{namespace}.svc.cluster.local:{PUSHGATEWAY_PORT}"


class Pushgateway(pulumi.ComponentResource):
    """Deployment, Service and PodMonitor of the Pushgateway (restricted Pod Security)."""

    def __init__(self, name: str, namespace: str, release_label: str, opts: pulumi.ResourceOptions | None = None,
                 placement: Placement = ANYWHERE) -> None:
        super().__init__("mlplatform:k8s:Pushgateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**PUSHGATEWAY_PODS, "app.kubernetes.io/part-of": "mlplatform"}
        probe = {"httpGet": {"path": "/-/ready", "port": PUSHGATEWAY_PORT}}
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": "pushgateway", "namespace": namespace, "labels": labels},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": PUSHGATEWAY_PODS},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **placement.pod_fields(PUSHGATEWAY_PODS),
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(65534),
                        "containers": [{
                            "name": "pushgateway",
                            "image": versions.IMAGES["pushgateway"],
                            "args": [f"--web.listen-address=:{PUSHGATEWAY_PORT}"],
                            "ports": [{"name": "http", "containerPort": PUSHGATEWAY_PORT}],
                            "readinessProbe": probe,
                            "livenessProbe": {**probe, "httpGet": {"path": "/-/healthy", "port": PUSHGATEWAY_PORT}},
                            "securityContext": container_security(),
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
                        }],
                    },
                },
            },
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "pushgateway", "namespace": namespace, "labels": labels},
            spec={"selector": PUSHGATEWAY_PODS, "ports": [{"name": "http", "port": PUSHGATEWAY_PORT, "targetPort": PUSHGATEWAY_PORT}]},
            opts=child,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-podmonitor",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata={"name": "pushgateway", "namespace": namespace, "labels": {**labels, "release": release_label}},
            spec={
                "selector": {"matchLabels": PUSHGATEWAY_PODS},
                "podMetricsEndpoints": [{"port": "http", "honorLabels": True, "interval": "60s"}],
            },
            opts=child,
        )
        self.url = pushgateway_url(namespace)
        self.register_outputs({"url": self.url})
