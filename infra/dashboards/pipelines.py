"""The pipelines dashboard: runs by status, the drift job's duration and the age of its last success.

Argo Workflows v4.0.5 (the controller KFP 2.17.0 installs) exports, prefixed ``argo_workflows_``
(docs/metrics.md at v4.0.5): ``total_count{phase, namespace}``, a counter of the workflows that
entered each phase, and ``gauge{phase}``, the workflows in the cluster by phase. It exports no
duration or completion time of a workflow that does not run a WorkflowTemplate (KFP's runs do
not): the drift job pushes its own (pipelines/drift/metrics.py), and the Pushgateway stamps each
push with ``push_time_seconds``, the time of its last successful run.
"""

from __future__ import annotations

from typing import Any

from infra.dashboards.common import build, eq, panel, selector
from infra.dashboards.drift import pushed
from pipelines.drift.metrics import DURATION_METRIC

UID = "mlplatform-pipelines"
WORKFLOWS_BY_PHASE_TOTAL = "argo_workflows_total_count"
WORKFLOWS_BY_PHASE = "argo_workflows_gauge"
PUSH_TIME = "push_time_seconds"


def dashboard(pipelines_namespace: str, models_namespace: str, inference_service: str) -> dict[str, Any]:
    """The pipelines dashboard: Argo's runs in ``pipelines_namespace``, the drift job of ``inference_service``."""
    drift = pushed(models_namespace, inference_service)
    return build(UID, "ML pipelines", f"Pipeline runs (Argo Workflows under KFP) in {pipelines_namespace}, and the drift job", [
        panel("Runs by status (per hour)", "Workflows that entered each phase in the last hour", "short",
              [(f"sum by (phase) (increase({selector(WORKFLOWS_BY_PHASE_TOTAL, eq('namespace', pipelines_namespace))}[1h]))",
                "{{phase}}")]),
        panel("Workflows now, by phase", "Workflows in the cluster (Argo keeps finished ones until their TTL)", "short",
              [(f"sum by (phase) ({WORKFLOWS_BY_PHASE})", "{{phase}}")]),
        panel("Drift job: age of the last successful run", "Since its last push to the Pushgateway", "s",
              [(f"time() - max({selector(PUSH_TIME, *drift)})", "drift job")]),
        panel("Drift job: duration", "Seconds the last drift run's step took", "s",
              [(f"max({selector(DURATION_METRIC, *drift)})", "drift job")]),
    ])
