"""Kubernetes rules: namespaces, workloads, images, services, Helm and kustomize sources, KServe."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from infra import namespaces
from infra.config import covers_internet
from infra.pod_security import pod_spec_of, violations
from policies.helpers import SECURITY, Tunable, get, message, resource_environment, rule

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
RELEASE = "kubernetes:helm.sh/v3:Release"
CHART_V4 = "kubernetes:helm.sh/v4:Chart"
KUSTOMIZE = ("kubernetes:kustomize/v2:Directory",)
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
WORKLOADS = {
    "kubernetes:core/v1:Pod": "Pod",
    "kubernetes:apps/v1:Deployment": "Deployment",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:apps/v1:DaemonSet": "DaemonSet",
    "kubernetes:apps/v1:ReplicaSet": "ReplicaSet",
    "kubernetes:batch/v1:Job": "Job",
    "kubernetes:batch/v1:CronJob": "CronJob",
}
SERVING_CHART = "charts/model-serving"
# gcr.io: KFP 2.17.0's MLMD server (gcr.io/tfx-oss-public/ml_metadata_store_server) is published there only.
DEFAULT_REGISTRIES = ["docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "public.ecr.aws", "nvcr.io", "gcr.io"]
_PINNED_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][\w.]+)?$")


def _pod_spec(args: ResourceValidationArgs) -> dict[str, Any] | None:
    kind = WORKLOADS.get(args.resource_type)
    return pod_spec_of({"kind": kind, "spec": get(args.props, "spec", {})}) if kind else None


def _containers(spec: dict) -> list[dict]:
    """The containers and init containers of a pod spec."""
    return spec.get("containers", []) + spec.get("initContainers", [])


@rule("namespace-pod-security-labels", "Every namespace carries Pod Security Admission labels.",
      SECURITY, Severity.HIGH, "Label enforce (restricted or a documented exception), audit and warn.")
def namespace_psa(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NAMESPACE:
        return
    labels = get(args.props, "metadata.labels", {}) or {}
    name = get(args.props, "metadata.name")
    missing = [m for m in ("enforce", "audit", "warn") if f"pod-security.kubernetes.io/{m}" not in labels]
    if missing:
        report(message(
            f"Namespace {name} lacks Pod Security labels {missing}.",
            "without an enforce label any pod, privileged or not, is admitted.",
            "label it pod-security.kubernetes.io/enforce=restricted (or the documented exception) and audit/warn=restricted.",
        ))
        return
    enforced, floor = labels["pod-security.kubernetes.io/enforce"], EXCEPTIONS.get(name, "restricted")
    if PSA_LEVELS.index(enforced) < PSA_LEVELS.index(floor):
        report(message(
            f"Namespace {name} enforces {enforced}, below {floor} (infra/namespaces.py's table).",
            "pods that the table's level refuses (root, host access, privilege escalation) would be admitted.",
            f"enforce {floor}, or add the exception and its reason to the table, where a test checks it against upstream.",
        ))


def _is_default_deny(policy: dict) -> bool:
    spec = get(policy, "spec", {}) or {}
    return (
        not get(spec, "podSelector.matchLabels") and not get(spec, "podSelector.matchExpressions")
        and set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}
        and not spec.get("ingress") and not spec.get("egress")
    )


@rule("namespace-default-deny", "Every namespace has a default-deny NetworkPolicy.",
      SECURITY, Severity.HIGH, "Add a default-deny NetworkPolicy; allow each flow explicitly.", stack=True)
def namespace_default_deny(args: StackValidationArgs, report: ReportViolation) -> None:
    denied = {
        get(r.props, "metadata.namespace")
        for r in args.resources
        if r.resource_type == NETWORK_POLICY and _is_default_deny(r.props)
    }
    for namespace in (r for r in args.resources if r.resource_type == NAMESPACE):
        name = get(namespace.props, "metadata.name")
        if name not in denied:
            report(
                message(
                    f"Namespace {name} has no default-deny NetworkPolicy.",
                    "every pod in it can reach and be reached by anything, so one compromised pod reaches all.",
                    "add a NetworkPolicy with podSelector {} and policyTypes [Ingress, Egress] and no rules, then allow flows explicitly.",
                ),
                namespace.urn,
            )


@rule("containers-restricted", "Containers run as non-root, unprivileged, with no privilege escalation and ALL dropped.",
      SECURITY, Severity.HIGH, "Apply the restricted security contexts.")
def container_security(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _pod_spec(args)
    if spec is None:
        return
    # The namespace's level from the table: restricted, or its documented exception (the GPU device plugin's hostPath).
    level = EXCEPTIONS.get(get(args.props, "metadata.namespace", ""), "restricted")
    problems = violations(spec, level)
    if problems:
        report(message(
            f"{args.resource_type.rsplit(':', 1)[-1]} {get(args.props, 'metadata.name')} breaks the {level} profile: {'; '.join(problems[:4])}.",
            "a root, privileged or capability-holding container turns one bug into a node compromise.",
            "set runAsNonRoot, seccomp RuntimeDefault, allowPrivilegeEscalation false and drop ALL capabilities.",
        ))


@rule("containers-resources", "Containers set CPU and memory requests and limits.",
      SECURITY, Severity.MEDIUM, "Set requests and limits.")
def container_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _pod_spec(args)
    if spec is None:
        return
    for container in _containers(spec):
        resources = container.get("resources") or {}
        missing = [f"{kind}.{res}" for kind in ("requests", "limits") for res in ("cpu", "memory") if res not in (resources.get(kind) or {})]
        if missing:
            report(message(
                f"Container {container.get('name')} of {get(args.props, 'metadata.name')} has no {', '.join(missing)}.",
                "unbounded containers starve their neighbours and defeat the quotas and the autoscaler.",
                "set CPU and memory requests and limits.",
            ))


def _images(spec: dict) -> list[str]:
    return [c.get("image", "") for c in _containers(spec)]


@rule("images-pinned", "Images are pinned by tag or digest, never latest.",
      SECURITY, Severity.MEDIUM, "Pin a version tag or a digest.")
def image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _pod_spec(args)
    if spec is None:
        return
    for image in _images(spec):
        last = image.rsplit("/", 1)[-1]
        if "@sha256:" not in image and (":" not in last or last.endswith(":latest")):
            report(message(
                f"Image {image} is not pinned (no tag, or latest).",
                "the same manifest would run different code on every pull.",
                "pin a version tag, or better a digest (name@sha256:...).",
            ))


ALLOWED_REGISTRIES = Tunable("allowedRegistries", {"type": "array", "items": {"type": "string"}}, DEFAULT_REGISTRIES)



@rule("images-allowed-registries", "Images come from allowed registries.",
      SECURITY, Severity.HIGH, "Use an allowed registry or extend allowedRegistries.",
      tunables=[ALLOWED_REGISTRIES])
def image_registry(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _pod_spec(args)
    if spec is None:
        return
    allowed = ALLOWED_REGISTRIES.read(args)
    for image in _images(spec):
        first = image.split("/", 1)[0]
        registry = first if ("." in first or ":" in first) and "/" in image else "docker.io"
        if registry not in allowed:
            report(message(
                f"Image {image} comes from {registry}, which is not an allowed registry.",
                "images from unknown registries bypass the team's supply-chain review.",
                f"use one of {allowed} or add the registry to the pack's allowedRegistries.",
            ))


@rule("no-public-load-balancer", "No Service creates an internet-facing load balancer unless annotated internal.",
      SECURITY, Severity.CRITICAL, "Annotate it internal or use the gateway.")
def no_public_load_balancer(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SERVICE or get(args.props, "spec.type") != "LoadBalancer":
        return
    annotations = get(args.props, "metadata.annotations", {}) or {}
    internal = (
        annotations.get("service.beta.kubernetes.io/aws-load-balancer-scheme") == "internal"
        or annotations.get("service.beta.kubernetes.io/aws-load-balancer-internal") in ("true", "0.0.0.0/0")
    )
    if not internal:
        report(message(
            f"Service {get(args.props, 'metadata.name')} creates an internet-facing load balancer.",
            "it publishes the service (a model, MLflow) to the internet, outside the gateway's auth.",
            "annotate it service.beta.kubernetes.io/aws-load-balancer-scheme: internal, or route through the gateway.",
        ))


@rule("releases-and-manifests-pinned", "Helm releases and kustomize sources are pinned.",
      SECURITY, Severity.MEDIUM, "Pin chart versions and ?ref= tags.")
def releases_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in (RELEASE, CHART_V4):
        version = str(get(args.props, "version", "") or "")
        if not _PINNED_VERSION.match(version):
            report(message(
                f"Helm release of {get(args.props, 'chart')} is not pinned to a version (got {version or 'none'}).",
                "the next upstream release would roll out unreviewed on any `pulumi up`.",
                "set version to an exact chart version.",
            ))
    if args.resource_type in KUSTOMIZE:
        directory = str(get(args.props, "directory", ""))
        if directory.startswith(("http://", "https://", "github.com")) and not re.search(r"[?&]ref=[\w.-]+", directory):
            report(message(
                f"Kustomize source {directory} has no pinned ref.",
                "the manifests would follow the upstream default branch.",
                "append ?ref=<release tag> to the URL.",
            ))


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
    elif args.resource_type == RELEASE and str(get(args.props, "chart", "")).endswith(SERVING_CHART):
        values = get(args.props, "values", {}) or {}
        _check_serving(get(values, "autoscaling.maxReplicas", 3), get(values, "resources"), limit, "The model-serving release", report)


# Pod Security levels, weakest first, and the namespaces the platform's table lets enforce less than restricted.
PSA_LEVELS = ("privileged", "baseline", "restricted")
EXCEPTIONS = {spec.name: spec.enforce for spec in vars(namespaces).values() if isinstance(spec, namespaces.NamespaceSpec)}
# An env var named like a credential, or a value that carries one (user:password@ in a URI).
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_?KEY|ACCESS_?KEY|API_?KEY|CREDENTIAL", re.IGNORECASE)
# ... unless it names where a credential is kept rather than holding it (KServe's SECRET_NAME, a *_FILE path).
REFERENCE_NAME = re.compile(r"_(NAME|FILE|PATH|DIR|REF|ARN|KEY_ID|NAMESPACE)$", re.IGNORECASE)
SECRET_VALUE = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


@rule("secrets-not-in-env-values", "Credentials reach containers through Secrets (secretKeyRef or a mounted file), never as literal env values.",
      SECURITY, Severity.HIGH, "Put the value in a Secret and reference it with valueFrom.secretKeyRef.")
def secrets_not_in_env_values(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = _pod_spec(args)
    if spec is None:
        return
    for container in _containers(spec):
        for env in container.get("env") or []:
            value = env.get("value")
            name = env.get("name", "")
            if isinstance(value, str) and value and ((SECRET_NAME.search(name) and not REFERENCE_NAME.search(name)) or SECRET_VALUE.search(value)):
                report(message(
                    f"Container {container.get('name')} gets {env.get('name')} as a literal value.",
                    "the credential sits in the workload's spec, readable by anyone who can read Deployments, and in Pulumi's state.",
                    "store it in a Secret and use valueFrom.secretKeyRef (or mount it as a file).",
                ))


# A Postgres connection URI (as a Secret value, or a `database_uri = ...` line in a config file
# kept in one), and the libpq modes that encrypt the connection.
POSTGRES_URI = re.compile(r"postgres(?:ql)?(?:\+\w+)?://[^\s]+")
TLS_MODES = ("require", "verify-ca", "verify-full")


def _base64_text(value: Any) -> str:
    """A Secret data value as text ('' when it is not base64 of UTF-8)."""
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


# MLMD's MetadataStoreServerConfig (text format) with a MySQL connection; TLS is its ssl_options block.
MLMD_MYSQL = re.compile(r"connection_config\s*\{\s*mysql\s*\{(?P<body>[^}]*(?:\{[^}]*\}[^}]*)*)\}")


@rule("database-connections-use-tls", "Every database connection the platform declares is encrypted (libpq sslmode require or stronger; "
      "MLMD's MySQL config with ssl_options).",
      SECURITY, Severity.HIGH, "Add ?sslmode=verify-full (with sslrootcert) or ?sslmode=require to the database URI; ssl_options to MLMD's.")
def database_connections_use_tls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:Secret":
        return
    # data holds base64 (as the API stores it), stringData plain text.
    values = {key: _base64_text(value) for key, value in (get(args.props, "data", {}) or {}).items()}
    values.update(get(args.props, "stringData", {}) or {})
    name = get(args.props, "metadata.name", "")
    for key, value in values.items():
        if not isinstance(value, str):
            continue
        for uri in POSTGRES_URI.findall(value):
            modes = re.findall(r"[?&]sslmode=([\w-]+)", uri)
            if not modes or modes[-1] not in TLS_MODES:
                report(message(
                    f"Secret {name} key {key} connects to a database with sslmode={modes[-1] if modes else '(libpq default: prefer)'}.",
                    "the password and the data cross the cluster network in clear, or fall back to clear when TLS is refused.",
                    "serve the database over TLS and connect with sslmode=verify-full (or require).",
                ))
        for config in MLMD_MYSQL.finditer(value):
            if "ssl_options" not in config.group("body"):
                report(message(
                    f"Secret {name} key {key} connects MLMD to MySQL without ssl_options.",
                    "the password and every pipeline's metadata cross the cluster network in clear.",
                    "serve MySQL over TLS and add ssl_options { ca: ... } to the mysql block.",
                ))


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
# Where a served model may come from: the object stores KServe's storage initializer reads with the
# serving identity. An https:// host is a third party the cluster would download code from.
MODEL_SCHEMES = ("s3", "gs", "pvc")
ALLOWED_MODEL_HOSTS = Tunable("allowedModelHosts", {"type": "array", "items": {"type": "string"}}, [])


def _serving_values(args: ResourceValidationArgs) -> dict | None:
    """The serving chart's values, whoever installs it: the program's Helm release or Argo CD's Application."""
    if args.resource_type == RELEASE and str(get(args.props, "chart", "")).endswith(SERVING_CHART):
        return get(args.props, "values", {}) or {}
    if args.resource_type == APPLICATION and str(get(args.props, "spec.source.path", "")).endswith(SERVING_CHART):
        return get(args.props, "spec.source.helm.valuesObject", {}) or {}
    return None


def _model_uris(args: ResourceValidationArgs) -> list[str]:
    if args.resource_type == INFERENCE_SERVICE:
        return [get(args.props, "spec.predictor.model.storageUri", "")]
    values = _serving_values(args)
    return [get(values, "model.storageUri", ""), get(values, "canary.storageUri", "")] if values is not None else []


@rule("models-from-allowed-sources", "Served models load from the object store (s3://, gs://, pvc://) or an allowed https host.",
      SECURITY, Severity.HIGH, "Serve from the platform's artifacts bucket, or add the host to allowedModelHosts after a review.",
      tunables=[ALLOWED_MODEL_HOSTS])
def model_source(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = ALLOWED_MODEL_HOSTS.read(args)
    for uri in filter(None, _model_uris(args)):
        scheme, _, rest = str(uri).partition("://")
        if scheme in MODEL_SCHEMES or (scheme == "https" and rest.split("/", 1)[0] in allowed):
            continue
        report(message(
            f"A served model loads from {uri}, outside the object store and the allowed hosts.",
            "the predictor would download and run a model (and its code) from a host the platform does not control.",
            "register the model through the pipelines (s3://<artifacts bucket>/mlflow/...) or allow the host in allowedModelHosts.",
        ))


@rule("network-policies-no-internet-ingress", "No NetworkPolicy admits ingress from address ranges that cover the internet.",
      SECURITY, Severity.HIGH, "Name the peers: the VPC (control plane, load balancer subnets) or namespaces.")
def no_internet_ingress(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NETWORK_POLICY:
        return
    for allowed in get(args.props, "spec.ingress", []) or []:
        cidrs = [get(peer, "ipBlock.cidr") for peer in allowed.get("from", []) or [] if get(peer, "ipBlock.cidr")]
        if cidrs and covers_internet(cidrs):
            report(message(
                f"NetworkPolicy {get(args.props, 'metadata.name')} admits ingress from {', '.join(cidrs)}: every address.",
                "anything that can route to a node reaches those pods (a webhook, a model) past the default deny.",
                "allow the control plane's or the load balancer's CIDRs (the VPC), or a namespace selector.",
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
