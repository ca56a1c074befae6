"""The team's serving chart (charts/model-serving) as a Helm release per environment, values from the stack."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra import feature_store, gpu, paths, placement
from infra.config import Settings
from infra.flows import load_balancer_cidrs
from infra.workloads import SERVING
from pipelines.cluster import REQUEST_LOG_STORE_PATH, SERVING_CODE_DIR, SERVING_IMPLEMENTATION


def chart_has(key: str) -> bool:
    """Whether the serving chart's schema declares the top-level value ``key``."""
    return key in json.loads((paths.SERVING_CHART / "values.schema.json").read_text())["properties"]


# KServe downloads the model here (constants.DefaultModelLocalMountPath).
MODEL_MOUNT = "/mnt/models"


# Where the values ML engineers pass to `helm upgrade` when the release is theirs (servingOwner: helm).
PLATFORM_VALUES_CONFIGMAP = "model-serving-platform-values"


def inference_service_name(release: str, chart: str = "model-serving") -> str:
    """The InferenceService the chart names for ``release`` (its ``model-serving.fullname``; a test renders it)."""
    return (release if chart in release else f"{release}-{chart}")[:45].rstrip("-")


def platform_values(settings: Settings, role_arn: str | None, object_store: dict[str, Any], monitoring_release: str,
                    request_log_url: pulumi.Input[str] = "") -> dict[str, Any]:
    """The values the platform decides, whoever owns the release: identity, network peers, scaling bounds, monitoring,
    and the request log (KServe's logger; ``request_log_url`` is empty where the object store is not S3)."""
    (service_account,) = SERVING.service_accounts
    # The feature server's address and peer for the chart's transformer (issue 27), once the chart has the option.
    transformer = {"transformer": feature_store.transformer_values()} if chart_has("transformer") else {}
    return {
        **transformer,
        # Every model the pipelines register carries its runtime (pipelines/serving_runtime.py).
        "model": {"implementation": SERVING_IMPLEMENTATION, "codePath": f"{MODEL_MOUNT}/{SERVING_CODE_DIR}",
                  # On a GPU the model is the GPU format, which the GPU runtime puts on the device (infra/gpu.py).
                  **({"format": gpu.SERVING_FORMAT} if settings.serving.gpu else {})},
        "deploymentMode": settings.serving.deployment_mode,
        "autoscaling": {"minReplicas": settings.serving.min_replicas, "maxReplicas": settings.serving.max_replicas},
        "gpu": gpu.chart_values(settings.serving.gpu),
        # Models outrank pipeline steps and yield only to the platform's own services (infra/placement.py).
        "priorityClassName": placement.SERVING.name,
        "serviceAccount": {"create": True, "name": service_account, "roleArn": role_arn or ""},
        "loadBalancer": {
            "enabled": settings.serving.ingress != "none",
            "scheme": settings.serving.ingress if settings.serving.ingress != "none" else "internal",
            "certificateArn": settings.serving.certificate_arn,
            # One ALB per environment, shared by its models.
            "groupName": settings.name,
        },
        "networkPolicy": {
            "enabled": True,
            "gateway": {"namespace": settings.gateway_namespace},
            "objectStore": object_store,
            "loadBalancerCidrs": list(load_balancer_cidrs(settings)),
        },
        "monitoring": {"enabled": settings.monitoring, "release": monitoring_release},
        "requestLogging": {"enabled": bool(request_log_url), "mode": "request", "url": request_log_url,
                           "storePath": REQUEST_LOG_STORE_PATH},
    }


def rollout_values(settings: Settings) -> dict[str, Any]:
    """The values of a rollout, from the stack file (servingOwner: stack): the model, the predictor's name, the canary."""
    values: dict[str, Any] = {"model": {"storageUri": settings.serving.storage_uri}, "predictor": {"name": settings.serving.predictor_name}}
    if settings.serving.canary_name:
        values["canary"] = {
            "name": settings.serving.canary_name,
            "storageUri": settings.serving.canary_storage_uri,
            "trafficPercent": settings.serving.canary_percent,
        }
    return values


def serving_values(settings: Settings, role_arn: str | None, object_store: dict[str, Any], monitoring_release: str,
                   request_log_url: pulumi.Input[str] = "") -> dict[str, Any]:
    """The chart's values when the stack owns the release: promoting a model is a change of the stack file."""
    platform = platform_values(settings, role_arn, object_store, monitoring_release, request_log_url)
    rollout = rollout_values(settings)
    return {**platform, **rollout, "model": {**platform["model"], **rollout["model"]}}


class PlatformValues(pulumi.ComponentResource):
    """The platform's values of the serving chart in a ConfigMap, for a release ML engineers own with helm.

        kubectl -n models get configmap model-serving-platform-values -o jsonpath='{.data.values\\.yaml}' > platform.yaml
        helm upgrade --install fraud charts/model-serving -n models -f platform.yaml --set model.storageUri=...
    """

    def __init__(self, name: str, namespace: str, values: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:PlatformValues", name, None, opts)
        k8s.core.v1.ConfigMap(
            name,
            metadata={"name": PLATFORM_VALUES_CONFIGMAP, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "mlplatform"}},
            data={"values.yaml": pulumi.Output.from_input(values).apply(lambda resolved: yaml.safe_dump(resolved, sort_keys=False))},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


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
