"""KServe v0.20.0's admission rules for `spec.canary[]`, as its webhook applies them.

Ported, rule for rule and message for message, from ``validateCanarySpecs`` in
kserve/kserve v0.20.0 ``pkg/apis/serving/v1beta1/inference_service_validation.go``
(and ``validateDeploymentMode`` for the mode change): the chart tests check every
rendered step against these rules as well as against the CRD schema, because the
schema alone lets through what the webhook refuses.
"""

from __future__ import annotations

import math

MODE = "serving.kserve.io/deploymentMode"
AUTOSCALING_FIELDS = ("maxReplicas", "scaleTarget", "scaleMetric", "autoScaling")


def canary_errors(isvc: dict) -> list[str]:
    """What the webhook refuses in ``isvc``'s canaries (empty: admitted)."""
    spec = isvc["spec"]
    canaries = spec.get("canary") or []
    if not canaries:
        return []
    if isvc["metadata"].get("annotations", {}).get(MODE) != "Standard":
        return ["canary is only supported in Standard deployment mode"]
    stable = spec["predictor"]
    if "model" not in stable and not stable.get("storageUri"):
        return ["canary requires a stable predictor with a model"]
    errors, names, total = [], set(), 0
    for index, canary in enumerate(canaries):
        predictor = canary["predictor"]
        name = predictor.get("name", "")
        if not name:
            errors.append(f"canary[{index}] predictor.name is required")
            continue
        if name in names:
            errors.append(f"canary predictor.name {name!r} is duplicated")
        names.add(name)
        if name == stable.get("name", ""):
            errors.append(f"canary predictor.name {name!r} conflicts with stable predictor name")
        percent = canary["trafficPercent"]
        if not 0 <= percent <= 100:
            errors.append(f"canary {name!r} trafficPercent must be between 0 and 100, got {percent}")
        total += percent
        if "model" not in predictor:
            errors.append(f"canary {name!r} predictor: exactly one implementation is required")
        if "workerSpec" in predictor:
            errors.append(f"canary {name!r} must not set workerSpec")
        errors += [f"canary {name!r} must not set {field} (canary uses fixed replicas)" for field in AUTOSCALING_FIELDS if field in predictor]
        if "minReplicas" in predictor and predictor["minReplicas"] > stable.get("minReplicas", 1):
            errors.append(f"canary {name!r} minReplicas must not exceed stable predictor minReplicas")
    if total > 100:
        errors.append(f"sum of canary trafficPercent values ({total}) must be <= 100")
    return errors


def mode_change_error(old: dict, new: dict) -> str | None:
    """The webhook refuses an update that changes the deployment mode of a live InferenceService."""
    before, after = old["metadata"]["annotations"].get(MODE), new["metadata"]["annotations"].get(MODE)
    return None if before == after else f"update rejected: deploymentMode cannot be changed from {before!r} to {after!r}"


def canary_replicas(isvc: dict, canary: dict) -> int:
    """Replicas KServe runs for ``canary`` (``canaryReplicaCount``): the stable minimum's share, rounded up."""
    if "minReplicas" in canary["predictor"]:
        return canary["predictor"]["minReplicas"]
    return math.ceil(isvc["spec"]["predictor"].get("minReplicas", 1) * canary["trafficPercent"] / 100)
