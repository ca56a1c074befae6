"""The team's serving chart (charts/model-serving) as a Helm release per environment, values from the stack."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import paths
from infra.config import Settings
from infra.workloads import SERVING


def serving_values(settings: Settings, role_arn: str | None, object_store: dict[str, Any], monitoring_release: str) -> dict[str, Any]:
    """The chart's values for this stack: promoting a model is a change of servingStorageUri in the stack file."""
    (service_account,) = SERVING.service_accounts
    values: dict[str, Any] = {
        "model": {"storageUri": settings.serving_storage_uri},
        "deploymentMode": settings.serving_deployment_mode,
        "autoscaling": {"minReplicas": settings.serving_min_replicas, "maxReplicas": settings.serving_max_replicas},
        "gpu": {"enabled": settings.serving_gpu, "count": 1},
        "serviceAccount": {"create": True, "name": service_account, "roleArn": role_arn or ""},
        "networkPolicy": {"enabled": True, "gateway": {"namespace": settings.gateway_namespace}, "objectStore": object_store},
        "monitoring": {"enabled": settings.monitoring, "release": monitoring_release},
    }
    if settings.serving_canary_percent:
        values["canary"] = {
            "trafficPercent": settings.serving_canary_percent,
            "previousStorageUri": settings.serving_previous_storage_uri,
        }
    return values


class ModelServing(pulumi.ComponentResource):
    """One release of the serving chart."""

    def __init__(self, name: str, namespace: str, values: pulumi.Input[dict], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:ModelServing", name, None, opts)
        chart_version = next(
            line.split(":", 1)[1].strip() for line in (paths.SERVING_CHART / "Chart.yaml").read_text().splitlines() if line.startswith("version:")
        )
        k8s.helm.v3.Release(
            name,
            name=name,
            chart=paths.for_engine(paths.SERVING_CHART),
            version=chart_version,
            namespace=namespace,
            values=values,
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
