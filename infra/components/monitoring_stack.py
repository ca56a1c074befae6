"""kube-prometheus-stack (pinned), so the serving chart's PodMonitor and PrometheusRule have somewhere to go."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import versions

# The serving chart labels its monitors release=<this>; Prometheus selects that label.
RELEASE_NAME = "kube-prometheus-stack"
# On EKS the control plane is managed: etcd, the scheduler and the controller manager cannot be
# scraped, and the kube-proxy add-on serves metrics on 127.0.0.1 only. Left on, each is a target
# that is always down and an alert (KubeSchedulerDown, etcdInsufficientMembers, ...) that always fires.
MANAGED_CONTROL_PLANE_TARGETS = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
MANAGED_CONTROL_PLANE_RULES = ("etcd", "kubeControllerManager", "kubeProxy", "kubeSchedulerAlerting", "kubeSchedulerRecording")


def chart_values(managed_control_plane: bool) -> dict[str, Any]:
    """kube-prometheus-stack values: monitors and rules from every namespace by the release label."""
    values: dict[str, Any] = {
        "prometheus": {
            "prometheusSpec": {
                # Pick up monitors and rules from every namespace, by the release label.
                "podMonitorSelector": {"matchLabels": {"release": RELEASE_NAME}},
                "ruleSelector": {"matchLabels": {"release": RELEASE_NAME}},
                "podMonitorNamespaceSelector": {},
                "ruleNamespaceSelector": {},
                "retention": "15d",
            }
        },
        "grafana": {"enabled": True, "defaultDashboardsEnabled": True},
        # The operator and its admission webhook's certificate jobs, bounded (upstream sets no resources).
        "prometheusOperator": {
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
            "admissionWebhooks": {"patch": {"resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                                          "limits": {"cpu": "100m", "memory": "128Mi"}}}},
        },
    }
    if managed_control_plane:
        values |= {target: {"enabled": False} for target in MANAGED_CONTROL_PLANE_TARGETS}
        values["defaultRules"] = {"rules": {rule: False for rule in MANAGED_CONTROL_PLANE_RULES}}
    return values


class MonitoringStack(pulumi.ComponentResource):
    """Prometheus, Alertmanager and Grafana, selecting monitors and rules labelled release=kube-prometheus-stack."""

    def __init__(self, name: str, namespace: str, managed_control_plane: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:MonitoringStack", name, None, opts)
        k8s.helm.v3.Release(
            name,
            name=RELEASE_NAME,
            chart=versions.KUBE_PROMETHEUS_STACK.chart,
            version=versions.KUBE_PROMETHEUS_STACK.version,
            repository_opts={"repo": versions.KUBE_PROMETHEUS_STACK.repo},
            namespace=namespace,
            values=chart_values(managed_control_plane),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
