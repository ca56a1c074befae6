"""What the Kubernetes rules share: resource types, the pod spec a workload runs, the serving chart's values,
and whether an object is the platform's own or rendered from a third-party install."""

from __future__ import annotations

from typing import Any

import yaml
from pulumi_policy import ResourceValidationArgs

from infra.components.model_serving import PLATFORM_VALUES_CONFIGMAP
from infra.pod_security import pod_spec_of
from policies.helpers import get

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
RELEASE = "kubernetes:helm.sh/v3:Release"
CHART_V4 = "kubernetes:helm.sh/v4:Chart"
KUSTOMIZE = ("kubernetes:kustomize/v2:Directory",)
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
WORKLOADS = {
    "kubernetes:core/v1:Pod": "Pod",
    DEPLOYMENT: "Deployment",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:apps/v1:DaemonSet": "DaemonSet",
    "kubernetes:apps/v1:ReplicaSet": "ReplicaSet",
    "kubernetes:batch/v1:Job": "Job",
    "kubernetes:batch/v1:CronJob": "CronJob",
}
# The components whose children are upstream's objects, rendered: a Helm v4 chart, a kustomize directory, YAML (and
# a v3 release, whose objects the engine never shows but the conformance suite renders under it).
THIRD_PARTY_PARENTS = (RELEASE, CHART_V4, *KUSTOMIZE, "kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml/v2:ConfigFile")
SERVING_CHART = "charts/model-serving"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def pod_spec(args: ResourceValidationArgs) -> dict[str, Any] | None:
    """The pod spec a workload resource runs, or None for a resource that runs no pod."""
    kind = WORKLOADS.get(args.resource_type)
    return pod_spec_of({"kind": kind, "spec": get(args.props, "spec", {})}) if kind else None


def containers(spec: dict) -> list[dict]:
    """The containers and init containers of a pod spec."""
    return spec.get("containers", []) + spec.get("initContainers", [])


def rendered_by_third_party(args: ResourceValidationArgs) -> bool:
    """Whether the engine reports the object as a child of a chart, kustomize directory or YAML file (upstream's)."""
    parent = str(getattr(args.opts, "parent", None) or "")
    return parent.rsplit("::", 1)[0].endswith(THIRD_PARTY_PARENTS)


def serving_values(resource_type: str, props: Any) -> dict | None:
    """The serving chart's values, whoever installs it: the program's Helm release, Argo CD's Application, or the
    platform's values ConfigMap of a release ML engineers own."""
    if resource_type == RELEASE and str(get(props, "chart", "")).endswith(SERVING_CHART):
        return get(props, "values", {}) or {}
    if resource_type == APPLICATION and str(get(props, "spec.source.path", "")).endswith(SERVING_CHART):
        return get(props, "spec.source.helm.valuesObject", {}) or {}
    if resource_type == CONFIG_MAP and get(props, "metadata.name") == PLATFORM_VALUES_CONFIGMAP:
        # The platform's values for a release ML engineers own with helm (servingOwner: helm), as YAML text.
        text = (get(props, "data", {}) or {}).get("values.yaml")
        values = yaml.safe_load(text) if isinstance(text, str) else None
        return values if isinstance(values, dict) else None
    return None
