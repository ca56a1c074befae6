"""The GPU nodes dashboard: utilization and framebuffer memory from NVIDIA's DCGM exporter.

The exporter (chart 4.8.2, image 4.5.3-4.8.2) exports the fields of its counters CSV (the chart's
``exporter-metrics-config-map``) as gauges named after the field, each labelled ``gpu``, ``UUID``,
``pci_bus_id``, ``device``, ``modelName`` and ``Hostname`` (internal/pkg/rendermetrics/render_metrics.go
at 4.5.3-4.8.2).
"""

from __future__ import annotations

from typing import Any

from infra.dashboards.common import build, panel

UID = "mlplatform-gpu"
UTILIZATION = "DCGM_FI_DEV_GPU_UTIL"
MEMORY_USED = "DCGM_FI_DEV_FB_USED"
MEMORY_FREE = "DCGM_FI_DEV_FB_FREE"
PER_GPU = "Hostname, gpu, modelName"


def dashboard() -> dict[str, Any]:
    """The GPU dashboard (every GPU node the exporter runs on)."""
    legend = "{{Hostname}} GPU {{gpu}} ({{modelName}})"
    return build(UID, "GPU nodes", "NVIDIA GPUs of the GPU node groups (DCGM exporter)", [
        panel("GPU utilization", "Share of time a kernel ran", "percent", [(f"avg by ({PER_GPU}) ({UTILIZATION})", legend)]),
        panel("GPU memory used", "Framebuffer memory in use", "decmbytes", [(f"sum by ({PER_GPU}) ({MEMORY_USED})", legend)]),
        panel("GPU memory used (share)", "Used / (used + free)", "percentunit", [
            (f"sum by ({PER_GPU}) ({MEMORY_USED}) / (sum by ({PER_GPU}) ({MEMORY_USED}) + sum by ({PER_GPU}) ({MEMORY_FREE}))", legend),
        ], width=24),
    ])
