"""NVIDIA's DCGM exporter (pinned chart) on the GPU nodes: the GPU dashboard's utilization and memory.

Installed on stacks with GPU node groups and monitoring on. It selects and tolerates the GPU nodes
as the device plugin does (infra/gpu.py), runs as non-root with every capability dropped (upstream's
default adds SYS_ADMIN and runs as root, for the profiling fields DCGM_FI_PROF_*, which no dashboard
reads), and exports only the fields of COUNTERS. Its pod stays above "restricted": the chart always
mounts the kubelet's pod-resources socket directory (a hostPath) to map GPUs to pods. Prometheus
finds it through the chart's ServiceMonitor, labelled with the monitoring release.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra import gpu, versions
from infra.components.pinned_release import pinned_release
from infra.dashboards.gpu import MEMORY_FREE, MEMORY_USED, UTILIZATION
from infra.flows import DCGM_EXPORTER_PORT

# The exporter's counters CSV (the chart's `customMetrics`: "DCGM field, Prometheus type, help"): the dashboard's
# fields first, then temperature, power and the XID error, none of them a profiling field (they need SYS_ADMIN).
COUNTERS = (
    (UTILIZATION, "gauge", "GPU utilization (in %)."),
    (MEMORY_USED, "gauge", "Framebuffer memory used (in MiB)."),
    (MEMORY_FREE, "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
)
# Upstream's suggestion for non-root without profiling (values.yaml's securityContext note).
USER = 1000


def chart_values(release_label: str) -> dict[str, Any]:
    """The dcgm-exporter chart's values: GPU nodes only, non-root, our counters, a ServiceMonitor Prometheus selects."""
    return {
        "nodeSelector": gpu.node_selector(),
        "tolerations": [gpu.toleration()],
        "customMetrics": "".join(f"{field}, {kind}, {help_text}\n" for field, kind, help_text in COUNTERS),
        "podSecurityContext": {"runAsNonRoot": True, "runAsUser": USER, "runAsGroup": USER, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": USER, "allowPrivilegeEscalation": False,
                            "capabilities": {"add": [], "drop": ["ALL"]}},  # upstream adds SYS_ADMIN
        "service": {"port": DCGM_EXPORTER_PORT, "address": f":{DCGM_EXPORTER_PORT}"},
        "serviceMonitor": {"enabled": True, "interval": "30s", "additionalLabels": {"release": release_label}},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "512Mi"}},
    }


class DcgmExporter(pulumi.ComponentResource):
    """The DCGM exporter DaemonSet on the GPU nodes, scraped through its ServiceMonitor."""

    def __init__(self, name: str, namespace: str, release_label: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:DcgmExporter", name, None, opts)
        pinned_release(name, versions.DCGM_EXPORTER, namespace, chart_values(release_label), self, release_name="dcgm-exporter")
        self.register_outputs({})
