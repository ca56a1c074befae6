"""cert-manager (pinned OCI chart, CRDs enabled): KServe's webhooks need its certificates."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import versions


class CertManager(pulumi.ComponentResource):
    """cert-manager in its namespace, restricted-compliant pods."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:CertManager", name, None, opts)
        self.release = k8s.helm.v3.Release(
            name,
            chart=versions.CERT_MANAGER.chart,
            version=versions.CERT_MANAGER.version,
            namespace=namespace,
            values={
                "crds": {"enabled": True, "keep": True},
                "global": {"leaderElection": {"namespace": namespace}},
                "podDisruptionBudget": {"enabled": True},
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
