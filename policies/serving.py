"""Serving rules: bounded models, models only from the platform's own buckets (or an allow-list), the gateway the
models admit never a system or platform namespace, and prod's MLflow behind authentication."""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from infra import namespaces, versions
from policies.helpers import SECURITY, Tunable, get, message, of_type, resource_environment, rule
from policies.k8s import APPLICATION, CONFIG_MAP, DEPLOYMENT, INFERENCE_SERVICE, RELEASE, serving_values
from policies.s3 import BUCKETS


def _check_serving(max_replicas: Any, resources: Any | None, limit: int, what: str, report: ReportViolation) -> None:
    """``resources`` None means the chart's defaults apply, which set requests and limits."""
    if not isinstance(max_replicas, (int, float)) or max_replicas > limit:
        report(message(
            f"{what} may scale to {max_replicas} replicas (limit {limit}).",
            "an unbounded model autoscales a traffic spike or a loop into a large bill.",
            f"set maxReplicas to at most {limit}.",
        ))
    if resources is not None and not (get(resources, "requests") and get(resources, "limits")):
        report(message(
            f"{what} has no resource requests and limits.",
            "the autoscaler cannot plan and one model can starve the node.",
            "set resources.requests and resources.limits for the model container.",
        ))


MAX_MODEL_REPLICAS = Tunable("maxReplicas", {"type": "integer"}, 20)


@rule("inference-service-bounded", "Served models have bounded replicas and resources.",
      SECURITY, Severity.MEDIUM, "Bound maxReplicas and set resources.",
      tunables=[MAX_MODEL_REPLICAS])
def inference_service_bounded(args: ResourceValidationArgs, report: ReportViolation) -> None:
    limit = MAX_MODEL_REPLICAS.read(args)
    if args.resource_type == INFERENCE_SERVICE:
        predictor = get(args.props, "spec.predictor", {}) or {}
        _check_serving(predictor.get("maxReplicas"), get(predictor, "model.resources") or {}, limit, "InferenceService", report)
    elif args.resource_type == RELEASE and serving_values(args.resource_type, args.props) is not None:
        values = get(args.props, "values", {}) or {}
        _check_serving(get(values, "autoscaling.maxReplicas", 3), get(values, "resources"), limit, "The model-serving release", report)


# Sources outside the platform's buckets a review has accepted: URI prefixes (s3://shared-models/fraud/, https://host/path/).
ALLOWED_MODEL_SOURCES = Tunable("allowedModelSources", {"type": "array", "items": {"type": "string"}}, [])


def _model_uris(resource: PolicyResource) -> list[str]:
    if resource.resource_type == INFERENCE_SERVICE:
        return [get(resource.props, "spec.predictor.model.storageUri", "")]
    values = serving_values(resource.resource_type, resource.props)
    return [get(values, "model.storageUri", ""), get(values, "canary.storageUri", "")] if values is not None else []


def platform_buckets(resources: list[PolicyResource]) -> set[str]:
    """The stack's own buckets: its S3 buckets, or the buckets its MinIO release creates."""
    names = {str(get(bucket.props, "bucket")) for bucket in of_type(resources, BUCKETS) if get(bucket.props, "bucket")}
    for release in of_type(resources, (RELEASE,)):
        if str(get(release.props, "chart", "")).endswith(versions.MINIO.chart):
            names |= {str(b.get("name")) for b in get(release.props, "values.buckets", []) or [] if b.get("name")}
    return names


def _allowed(uri: str, own: set[str], prefixes: list[str]) -> bool:
    scheme, _, rest = uri.partition("://")
    if scheme == "s3" and rest.split("/", 1)[0] in own:
        return True
    # At a path boundary: s3://shared allows s3://shared/x, never s3://shared-evil/x.
    return any(uri == prefix.rstrip("/") or uri.startswith(prefix.rstrip("/") + "/") for prefix in prefixes)


@rule("models-from-allowed-sources", "Served models load only from the stack's own buckets (S3, or MinIO's) or a reviewed "
      "allowedModelSources prefix.",
      SECURITY, Severity.HIGH, "Serve from the platform's artifacts bucket, or add the source to allowedModelSources after a review.",
      tunables=[ALLOWED_MODEL_SOURCES], stack=True)
def model_source(args: StackValidationArgs, report: ReportViolation) -> None:
    own = platform_buckets(args.resources)
    prefixes = ALLOWED_MODEL_SOURCES.read(args)
    servers = of_type(args.resources, (INFERENCE_SERVICE, RELEASE, APPLICATION, CONFIG_MAP))
    for server in servers:
        for uri in filter(None, map(str, _model_uris(server))):
            if not _allowed(uri, own, prefixes):
                report(message(
                    f"A served model loads from {uri}, which is neither a bucket of this stack ({', '.join(sorted(own)) or 'none'}) "
                    "nor an allowed source.",
                    "the predictor would download and run a model (and its code) from storage the platform does not control.",
                    "register the model through the pipelines (s3://<artifacts bucket>/mlflow/...) or add the source's prefix "
                    "to the pack's allowedModelSources after a review.",
                ), server.urn)


@rule("models-gateway-not-a-system-namespace", "The gateway namespace the models admit is neither Kubernetes' own nor a platform namespace.",
      SECURITY, Severity.HIGH, "Set networkPolicy.gateway.namespace (gatewayNamespace) to the ingress gateway's own namespace.")
def gateway_namespace(args: ResourceValidationArgs, report: ReportViolation) -> None:
    values = serving_values(args.resource_type, args.props)
    gateway = get(values, "networkPolicy.gateway.namespace") if values is not None else None
    if gateway in namespaces.RESERVED:
        report(message(
            f"The models' NetworkPolicy admits every gateway-labelled pod of namespace {gateway}, a system or platform namespace.",
            "any workload there (kube-system's add-ons, a platform server) could call the models directly, past the gateway's auth.",
            "set gatewayNamespace to the ingress gateway's own namespace (istio-system by default).",
        ))


@rule("mlflow-auth-in-prod", "Prod's MLflow runs with authentication (its basic-auth app).",
      SECURITY, Severity.HIGH, "Set mlflowBasicAuth: true in the prod stack.")
def mlflow_auth_in_prod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != DEPLOYMENT or get(args.props, "metadata.name") != "mlflow" or resource_environment(args) != "prod":
        return
    containers = get(args.props, "spec.template.spec.containers", []) or [{}]
    arguments = list(containers[0].get("args") or [])
    if "--app-name" not in arguments or arguments[arguments.index("--app-name") + 1:][:1] != ["basic-auth"]:
        report(message(
            "Prod's MLflow accepts every request without credentials.",
            "any pod that can reach it can overwrite registered models, which are what production serves.",
            "set mlflowBasicAuth: true (the pipelines get the credentials through a Secret).",
        ))
