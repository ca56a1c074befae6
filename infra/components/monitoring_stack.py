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
# The label by which Grafana's dashboard sidecar picks up ConfigMaps (grafana.sidecar.dashboards.label/labelValue,
# set below so that this is the one spelling; infra/components/dashboards.py labels its ConfigMaps with it).
DASHBOARD_LABEL = ("grafana_dashboard", "1")
MANAGED_CONTROL_PLANE_RULES = ("etcd", "kubeControllerManager", "kubeProxy", "kubeSchedulerAlerting", "kubeSchedulerRecording")


def _bounds(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, dict[str, str]]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


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
                "resources": _bounds("200m", "1Gi", "2", "4Gi"),
            }
        },
        "alertmanager": {"alertmanagerSpec": {"resources": _bounds("10m", "64Mi", "200m", "256Mi")}},
        # Grafana (subchart grafana 12.11.1): the server, its dashboard and datasource sidecars, and its
        # own `helm test` pod, each bounded through the keys that chart reads (upstream sets none).
        "grafana": {
            "enabled": True,
            "defaultDashboardsEnabled": True,
            "resources": _bounds("50m", "128Mi", "500m", "512Mi"),
            "sidecar": {
                "resources": _bounds("10m", "64Mi", "200m", "256Mi"),
                "dashboards": {"label": DASHBOARD_LABEL[0], "labelValue": DASHBOARD_LABEL[1]},
            },
            "testFramework": {"resources": _bounds("10m", "32Mi", "100m", "128Mi")},
        },
        "kube-state-metrics": {"resources": _bounds("10m", "64Mi", "200m", "256Mi")},
        "prometheus-node-exporter": {"resources": _bounds("10m", "32Mi", "200m", "128Mi")},
        # The operator, the config reloader it adds to Prometheus and Alertmanager, and its admission
        # webhook's certificate jobs, bounded (upstream sets no resources).
        "prometheusOperator": {
            "resources": _bounds("100m", "128Mi", "500m", "512Mi"),
            "prometheusConfigReloader": {"resources": _bounds("10m", "32Mi", "100m", "64Mi")},
            "admissionWebhooks": {"patch": {"resources": _bounds("10m", "32Mi", "100m", "128Mi")}},
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
