"""cert-manager (pinned OCI chart, CRDs enabled): KServe's webhooks need its certificates."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.placement import ANYWHERE, PLATFORM, Placement

# Two replicas of each part with a PDB that lets one go: a node drain (a managed node-group
# upgrade) can always evict a pod, and the webhook keeps answering while it does.
# The chart's PDB default (minAvailable: 1) with its default single replica blocks every drain.
REPLICAS = 2
RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}


def chart_values(namespace: str, placement: Placement = ANYWHERE) -> dict[str, Any]:
    """The cert-manager chart's values: HA controller, webhook and cainjector, drain-friendly PDBs, placed by ``placement``.

    ``global.nodeSelector`` and ``global.priorityClassName`` reach every pod (startupapicheck's too); each part
    spreads its replicas over zones by its pods' ``app.kubernetes.io/name`` (the chart's names at v1.21.1).
    """
    def part(pod_name: str) -> dict[str, Any]:
        return {"replicaCount": REPLICAS, "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1}, "resources": RESOURCES,
                "topologySpreadConstraints": placement.spread({"app.kubernetes.io/name": pod_name})}

    return {
        "crds": {"enabled": True, "keep": True},
        "global": {"leaderElection": {"namespace": namespace}, "nodeSelector": placement.node_selector,
                   "priorityClassName": PLATFORM.name},
        **part("cert-manager"),
        "webhook": part("webhook"),
        "cainjector": part("cainjector"),
        # The post-install check that the webhook answers: a short Job, bounded like the rest.
        "startupapicheck": {"resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}},
    }


class CertManager(pulumi.ComponentResource):
    """cert-manager in its namespace, restricted-compliant pods."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions | None = None, placement: Placement = ANYWHERE) -> None:
        super().__init__("mlplatform:k8s:CertManager", name, None, opts)
        self.release = k8s.helm.v3.Release(
            name,
            chart=versions.CERT_MANAGER.chart,
            version=versions.CERT_MANAGER.version,
            namespace=namespace,
            values=chart_values(namespace, placement),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
