"""The platform's Grafana dashboards as ConfigMaps Grafana's sidecar loads, and the scrape they need.

Each dashboard of infra/dashboards/ is one ConfigMap in the monitoring namespace, labelled as
kube-prometheus-stack's sidecar selects (monitoring_stack.DASHBOARD_LABEL). The pipelines
dashboard reads Argo's workflow controller, which nothing scrapes otherwise (Argo installs no
metrics Service): a PodMonitor here scrapes its ``metrics`` port, over the TLS with a self-signed
certificate that Argo v4.0.5 serves by default, keeping the workflows' own ``namespace`` label.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from infra.components.monitoring_stack import DASHBOARD_LABEL, RELEASE_NAME
from infra.dashboards.catalog import Scope, dashboards
from infra.flows import WORKFLOW_CONTROLLER_METRICS_PORT, WORKFLOW_CONTROLLER_PODS

LABELS = {"app.kubernetes.io/part-of": "mlplatform", "app.kubernetes.io/component": "dashboards"}


class Dashboards(pulumi.ComponentResource):
    """One ConfigMap per dashboard in ``namespace``; a PodMonitor of Argo's controller in the pipelines' namespace."""

    def __init__(self, name: str, namespace: str, scope: Scope, with_gpu: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:Dashboards", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.names: list[str] = []
        for file_name, board in dashboards(scope, with_gpu).items():
            config_map = file_name.removesuffix(".json")
            k8s.core.v1.ConfigMap(
                f"{name}-{config_map}",
                metadata={"name": config_map, "namespace": namespace, "labels": {**LABELS, DASHBOARD_LABEL[0]: DASHBOARD_LABEL[1]}},
                data={file_name: json.dumps(board, indent=1, sort_keys=True)},
                opts=child,
            )
            self.names.append(config_map)
        k8s.apiextensions.CustomResource(
            f"{name}-workflow-controller",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata={"name": "workflow-controller", "namespace": scope.pipelines_namespace,
                      "labels": {**LABELS, "release": RELEASE_NAME}},
            spec={
                "selector": {"matchLabels": dict(WORKFLOW_CONTROLLER_PODS)},
                "podMetricsEndpoints": [{
                    "portNumber": WORKFLOW_CONTROLLER_METRICS_PORT, "path": "/metrics", "scheme": "https", "interval": "60s",
                    # Argo's self-signed certificate; the workflows' `namespace` label wins over the pod's.
                    "tlsConfig": {"insecureSkipVerify": True}, "honorLabels": True,
                }],
            },
            opts=child,
        )
        self.register_outputs({"configMaps": self.names})
