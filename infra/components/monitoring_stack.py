"""kube-prometheus-stack (pinned), so the serving chart's PodMonitor and PrometheusRule have somewhere to go."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import versions

# The serving chart labels its monitors release=<this>; Prometheus selects that label.
RELEASE_NAME = "kube-prometheus-stack"


class MonitoringStack(pulumi.ComponentResource):
    """Prometheus, Alertmanager and Grafana, selecting monitors and rules labelled release=kube-prometheus-stack."""

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:MonitoringStack", name, None, opts)
        k8s.helm.v3.Release(
            name,
            name=RELEASE_NAME,
            chart=versions.KUBE_PROMETHEUS_STACK.chart,
            version=versions.KUBE_PROMETHEUS_STACK.version,
            repository_opts={"repo": versions.KUBE_PROMETHEUS_STACK.repo},
            namespace=namespace,
            values={
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
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
