"""Every dashboard of the platform, by file name, for one stack's scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.dashboards import drift, gpu, pipelines, serving


@dataclass(frozen=True)
class Scope:
    """What the dashboards are about: the served InferenceService, and where pipelines run."""

    models_namespace: str
    inference_service: str
    pipelines_namespace: str


def dashboards(scope: Scope, with_gpu: bool) -> dict[str, dict[str, Any]]:
    """File name -> Grafana JSON of every dashboard (the GPU one only where the stack has GPU nodes)."""
    boards = {
        "mlplatform-serving.json": serving.dashboard(scope.models_namespace, scope.inference_service),
        "mlplatform-drift.json": drift.dashboard(scope.models_namespace, scope.inference_service),
        "mlplatform-pipelines.json": pipelines.dashboard(scope.pipelines_namespace, scope.models_namespace, scope.inference_service),
    }
    if with_gpu:
        boards["mlplatform-gpu.json"] = gpu.dashboard()
    return boards
