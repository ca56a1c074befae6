"""The model-serving dashboard: traffic, latency quantiles, 4xx/5xx, stable vs canary, replicas.

MLServer 1.7.1 (the ``kserve-mlserver`` runtime) exports its REST metrics through
starlette_exporter: ``rest_server_requests_total`` and ``rest_server_request_duration_seconds``
with ``method``, ``path`` (the route template, ``/v2/models/{model_name}/infer``) and
``status_code``. Which InferenceService and which predictor (stable or canary) a series comes
from are target labels the serving chart's PodMonitor adds. Desired and available replicas are
kube-state-metrics' (v2.20.0, kube-prometheus-stack's); scraped replicas are Prometheus' ``up``.
"""

from __future__ import annotations

from typing import Any

from infra.dashboards.common import build, eq, panel, rate, regex, selector
from infra.dashboards.promql import INFERENCE_SERVICE_LABEL, TRACK_LABEL

UID = "mlplatform-serving"
REQUESTS = "rest_server_requests_total"
DURATION_BUCKETS = "rest_server_request_duration_seconds_bucket"
INFER_PATH = "/v2/models/.+/infer"
QUANTILES = (0.5, 0.95, 0.99)
DESIRED_REPLICAS = "kube_deployment_spec_replicas"
AVAILABLE_REPLICAS = "kube_deployment_status_replicas_available"


def predictor_deployments(inference_service: str) -> str:
    """KServe's Deployments of an InferenceService's predictors: ``<name>-predictor`` or ``<name>-<predictor>-predictor``."""
    return f"{inference_service}-(.+-)?predictor"


def dashboard(namespace: str, inference_service: str) -> dict[str, Any]:
    """The serving dashboard of ``inference_service`` in ``namespace``."""
    pods = (eq("namespace", namespace), eq(INFERENCE_SERVICE_LABEL, inference_service))
    infer = (*pods, regex("path", INFER_PATH))
    by_track = f"sum by ({TRACK_LABEL})"
    latency = [
        (f"histogram_quantile({q}, sum by (le) ({rate(DURATION_BUCKETS, *infer)}))", f"p{round(q * 100)}") for q in QUANTILES
    ]
    deployments = (eq("namespace", namespace), regex("deployment", predictor_deployments(inference_service)))
    return build(UID, f"Model serving: {inference_service}", f"V2 inference of {namespace}/{inference_service} (MLServer on KServe)", [
        panel("Requests per second", "V2 infer requests, stable and canary predictors", "reqps",
              [(f"{by_track} ({rate(REQUESTS, *infer)})", f"{{{{{TRACK_LABEL}}}}}")]),
        panel("Latency p50 / p95 / p99", "V2 infer latency quantiles over all predictors", "s", latency),
        panel("p95 latency by predictor", "Stable vs canary", "s",
              [(f"histogram_quantile(0.95, sum by ({TRACK_LABEL}, le) ({rate(DURATION_BUCKETS, *infer)}))",
                f"p95 {{{{{TRACK_LABEL}}}}}")]),
        panel("Errors per second", "4xx (the request's fault) and 5xx (the server's) by predictor", "reqps", [
            (f"{by_track} ({rate(REQUESTS, *infer, regex('status_code', '4..'))})", f"4xx {{{{{TRACK_LABEL}}}}}"),
            (f"{by_track} ({rate(REQUESTS, *infer, regex('status_code', '5..'))})", f"5xx {{{{{TRACK_LABEL}}}}}"),
        ]),
        panel("Replicas", "Desired and available (kube-state-metrics), and scraped model servers (up)", "short", [
            (f"sum by (deployment) ({selector(DESIRED_REPLICAS, *deployments)})", "desired {{deployment}}"),
            (f"sum by (deployment) ({selector(AVAILABLE_REPLICAS, *deployments)})", "available {{deployment}}"),
            (f"{by_track} ({selector('up', *pods)})", f"scraped {{{{{TRACK_LABEL}}}}}"),
        ], width=24),
    ])
