"""The drift dashboard: each feature's PSI over time against the threshold, and the drift score.

The drift pipeline pushes these to the Pushgateway (pipelines/drift/metrics.py owns the names),
grouped by {job, namespace, model}; Prometheus keeps the pushed labels (honorLabels).
"""

from __future__ import annotations

from typing import Any

from infra.dashboards.common import build, eq, panel, selector
from pipelines.drift.metrics import DRIFT_METRIC, FEATURE_METRIC, PUSH_JOB, THRESHOLD_METRIC

UID = "mlplatform-drift"


def pushed(namespace: str, inference_service: str) -> tuple[str, ...]:
    """The matchers of the drift job's push for one InferenceService (its grouping key)."""
    return eq("job", PUSH_JOB), eq("namespace", namespace), eq("model", inference_service)


def dashboard(namespace: str, inference_service: str) -> dict[str, Any]:
    """The drift dashboard of ``inference_service`` in ``namespace``."""
    group = pushed(namespace, inference_service)
    return build(UID, f"Model drift: {inference_service}", "Recent requests vs the champion's training sample (PSI per feature)", [
        panel("PSI per feature", "A feature drifts at or above the threshold the drift run used", "short", [
            (f"max by (feature) ({selector(FEATURE_METRIC, *group)})", "{{feature}}"),
            (f"max({selector(THRESHOLD_METRIC, *group)})", "threshold"),
        ], width=24),
        panel("Drift score", "Share of the features that drifted (ModelDriftHigh compares it with its limit)", "percentunit",
              [(f"max({selector(DRIFT_METRIC, *group)})", "drift score")]),
    ])
