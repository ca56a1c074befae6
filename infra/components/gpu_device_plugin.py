"""The NVIDIA device plugin (pinned chart), on the GPU node groups only."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import gpu, versions


class GpuDevicePlugin(pulumi.ComponentResource):
    """Advertises nvidia.com/gpu on nodes labelled nvidia.com/gpu.present=true, tolerating their taint."""

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:GpuDevicePlugin", name, None, opts)
        k8s.helm.v3.Release(
            name,
            chart=versions.NVIDIA_DEVICE_PLUGIN.chart,
            version=versions.NVIDIA_DEVICE_PLUGIN.version,
            repository_opts={"repo": versions.NVIDIA_DEVICE_PLUGIN.repo},
            namespace=namespace,
            values={
                "nodeSelector": gpu.node_selector(),
                "tolerations": [gpu.toleration()],
                # The EKS NVIDIA AMIs ship the driver; no GPU feature discovery needed.
                "gfd": {"enabled": False},
                "nfd": {"enabled": False},
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
