"""Conformance: every stack's final objects, rendered from the pinned upstream sources, as a real `pulumi up` applies them."""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from infra import namespaces
from infra.pod_security import pod_spec_of, violations
from tooling import offline
from tooling.crd import strict
from tooling.render import KUBERNETES_VERSION, MISSING_DEPENDENCIES, Rendered, identity, namespace_of

Objects = dict[str, list[Rendered]]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
# kube-system is not the platform's to label: the API server admits anything there (privileged).
SYSTEM_LEVELS = {"kube-system": "privileged"}
STATIC_KEY_ENV = re.compile(r"ACCESS_?KEY|SECRET_?ACCESS_?KEY|SECRETKEY", re.IGNORECASE)
# <service>.<namespace>.svc[.cluster.local][:port] or <service>.<namespace>:<port>, not inside a longer
# dotted name (serving.kserve.io) and not a Python module path (mlflow.models) in embedded code.
SERVICE_REFERENCE = re.compile(
    r"(?<![\w.-])([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.svc(\.cluster\.local)?(:\d+)?|:\d+)(?![\w.-])"
)


def _where(item: Rendered) -> str:
    group, kind, namespace, name = identity(item.obj)
    return f"{kind} {namespace}/{name} (from {item.source.split('::')[-1]})"


def _pod_templates(objects: list[Rendered]) -> list[tuple[Rendered, dict]]:
    found = []
    for item in objects:
        if item.obj.get("kind") in WORKLOADS | {"InferenceService"}:
            spec = pod_spec_of(item.obj)
            if spec is not None:
                found.append((item, spec))
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.fixture(scope="session", autouse=True)
def _report_missing_subcharts(stack_objects: Objects) -> None:
    """Say which subcharts the upstream copy lacks, so a reader knows what was not rendered."""
    for chart, missing in MISSING_DEPENDENCIES.items():
        warnings.warn(f"{chart}: the upstream copy has no {', '.join(missing)}; rendered with them off", stacklevel=1)


def _crd_validators(objects: list[Rendered]) -> dict[tuple[str, str, str], jsonschema.Draft7Validator]:
    """(group, version, kind) -> a validator of the CRD's schema that also refuses unknown fields."""
    validators = {}
    for item in objects:
        crd = item.obj
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        for version in crd["spec"]["versions"]:
            schema = strict(version.get("schema", {}).get("openAPIV3Schema", {}))
            schema.setdefault("properties", {}).update(
                {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
            )
            key = (crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"])
            validators[key] = jsonschema.Draft7Validator(schema)
    return validators


def test_every_object_is_valid_for_kubernetes_and_its_crd(stack: str, stack_objects: Objects) -> None:
    """Every built-in object validates (strict) for Kubernetes 1.35; every custom resource against its upstream CRD."""
    objects = stack_objects[stack]
    validators = _crd_validators(objects)
    problems: list[str] = []
    for item in objects:
        obj = {k: v for k, v in item.obj.items()}
        obj["metadata"] = {k: v for k, v in obj.get("metadata", {}).items() if not k.startswith("_")}
        group, _, version = obj["apiVersion"].rpartition("/")
        key = (group, version, obj["kind"])
        if key in validators:
            problems += [f"{_where(item)}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validators[key].iter_errors(obj)]
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{_where(item)}: no Kubernetes {KUBERNETES_VERSION} schema and no CRD in the stack for {obj['apiVersion']}")
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{_where(item)}: {'/'.join(map(str, error.path))}: {error.message}")
    assert problems == [], "\n".join(problems)


def test_each_object_has_one_owner(stack: str, stack_objects: Objects) -> None:
    """No object is declared twice (by the program and a chart, or by two renders): two owners fight over it."""
    counts = Counter(identity(item.obj) for item in stack_objects[stack])
    assert [key for key, count in counts.items() if count > 1] == []


def test_no_static_cloud_credentials_on_aws(stack: str, stack_objects: Objects, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """No stack keeps upstream's minio123; on AWS stacks nothing holds or reads a static key (IRSA everywhere)."""
    aws = stack_runs[stack].settings.is_aws
    problems = []
    for item in stack_objects[stack]:
        if "minio123" in str(item.obj):
            problems.append(f"{_where(item)}: upstream's static MinIO key minio123")
        if aws and item.obj.get("kind") == "Secret" and any(STATIC_KEY_ENV.search(k) for k in {**item.obj.get("data", {}), **item.obj.get("stringData", {})}):
            problems.append(f"{_where(item)}: a Secret with an access key")
    for item, spec in _pod_templates(stack_objects[stack]):
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            for env in container.get("env") or []:
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and STATIC_KEY_ENV.search(env["name"]) and (aws or ref["name"] == "mlpipeline-minio-artifact"):
                    problems.append(f"{_where(item)}: {container['name']} reads {env['name']} from a Secret")
    assert problems == [], "\n".join(problems)


def test_pods_meet_their_namespace_pod_security_level(stack: str, stack_objects: Objects, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Every Pod template meets the Pod Security level its namespace enforces (namespaces.py), or it would never start."""
    levels = {spec.name: spec.enforce for spec in namespaces.for_stack(stack_runs[stack].settings)} | SYSTEM_LEVELS
    problems = []
    for item, spec in _pod_templates(stack_objects[stack]):
        namespace = namespace_of(item.obj)
        assert namespace in levels, f"{_where(item)}: namespace {namespace!r} is not one the stack creates"
        problems += [f"{_where(item)} [{levels[namespace]}]: {p}" for p in violations(spec, levels[namespace])]
    assert problems == [], "\n".join(problems)


def test_every_claim_gets_a_storage_class(stack: str, stack_objects: Objects) -> None:
    """Every PVC names a StorageClass the stack creates, or the stack's default one (EKS ≥ 1.30 has none of its own)."""
    objects = stack_objects[stack]
    classes = {item.obj["metadata"]["name"]: item.obj for item in objects if item.obj["kind"] == "StorageClass"}
    defaults = [n for n, c in classes.items() if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    claims = [(item, item.obj["spec"]) for item in objects if item.obj["kind"] == "PersistentVolumeClaim"]
    claims += [(item, t["spec"]) for item in objects if item.obj["kind"] == "StatefulSet" for t in item.obj["spec"].get("volumeClaimTemplates", [])]
    # The Prometheus operator's StatefulSets claim what its Prometheus and Alertmanager resources template.
    claims += [(item, item.obj["spec"]["storage"]["volumeClaimTemplate"]["spec"]) for item in objects
               if item.obj["kind"] in ("Prometheus", "Alertmanager") and "volumeClaimTemplate" in item.obj["spec"].get("storage", {})]
    assert claims, "the stack has no volume claims to check"
    for item, spec in claims:
        named = spec.get("storageClassName")
        if stack == "local":
            # kind, minikube and k3d bring their own default class; nothing may ask for an EKS one.
            assert named is None, f"{_where(item)}: names {named}, which a local cluster does not have"
        elif named is None:
            assert len(defaults) == 1, f"{_where(item)}: names no StorageClass and the stack has {len(defaults)} defaults"
        else:
            assert named in classes, f"{_where(item)}: StorageClass {named} is not created by the stack"


def test_served_models_have_a_runtime(stack: str, stack_objects: Objects) -> None:
    """Every InferenceService's runtime and model format exist as an enabled, rendered ServingRuntime."""
    objects = stack_objects[stack]
    runtimes = {item.obj["metadata"]["name"]: item.obj["spec"] for item in objects if item.obj["kind"] in ("ClusterServingRuntime", "ServingRuntime")}
    services = [item for item in objects if item.obj["kind"] == "InferenceService"]
    for item in services:
        model = item.obj["spec"]["predictor"]["model"]
        fmt, protocol = model["modelFormat"], model.get("protocolVersion", "v1")
        candidates = {model["runtime"]: runtimes.get(model["runtime"])} if model.get("runtime") else runtimes
        fitting = [
            name for name, spec in candidates.items()
            if spec and not spec.get("disabled")
            and protocol in spec.get("protocolVersions", ["v1"])
            and any(f["name"] == fmt["name"] and (not fmt.get("version") or f.get("version") == fmt["version"]) for f in spec["supportedModelFormats"])
        ]
        assert fitting, f"{_where(item)}: no enabled runtime serves {fmt} on {protocol} (rendered: {sorted(runtimes)})"
    if not services:
        assert "kserve-mlserver" in runtimes and not runtimes["kserve-mlserver"].get("disabled"), "the serving runtime is not installed"


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def test_no_disruption_budget_blocks_drains(stack: str, stack_objects: Objects) -> None:
    """No PDB keeps all its pods (minAvailable >= replicas, maxUnavailable 0): node drains and group upgrades would stall."""
    objects = stack_objects[stack]
    budgets = [item for item in objects if item.obj["kind"] == "PodDisruptionBudget"]
    assert budgets, "no PodDisruptionBudget rendered"
    for budget in budgets:
        spec = budget.obj["spec"]
        pods = [
            item for item in objects
            if item.obj["kind"] in ("Deployment", "StatefulSet") and namespace_of(item.obj) == namespace_of(budget.obj)
            and _matches(spec["selector"], item.obj["spec"]["template"]["metadata"].get("labels", {}))
        ]
        replicas = sum(item.obj["spec"].get("replicas", 1) for item in pods)
        if "maxUnavailable" in spec:
            assert spec["maxUnavailable"] not in (0, "0%"), f"{_where(budget)}: maxUnavailable 0"
        else:
            minimum = spec.get("minAvailable", 1)
            blocked = minimum == "100%" or (isinstance(minimum, int) and minimum >= replicas)
            assert not blocked, f"{_where(budget)}: minAvailable {minimum} with {replicas} replica(s) blocks every drain"


def _images(objects: list[Rendered]) -> list[tuple[Rendered, str]]:
    found = [(item, c["image"]) for item, spec in _pod_templates(objects)
             for c in [*spec.get("initContainers", []), *spec.get("containers", [])] if c.get("image")]
    found += [(item, c["image"]) for item in objects if item.obj["kind"] in ("ClusterServingRuntime", "ServingRuntime")
              and not item.obj["spec"].get("disabled") for c in item.obj["spec"]["containers"]]
    return found


def test_every_image_is_pinned(stack: str, stack_objects: Objects) -> None:
    """Every image a pod or an enabled runtime runs has a version tag or a digest, never latest or none."""
    problems = []
    for item, image in _images(stack_objects[stack]):
        name = image.rsplit("/", 1)[-1]
        if "@sha256:" in image:
            continue
        if ":" not in name or name.endswith((":latest", ":")):
            problems.append(f"{_where(item)}: {image}")
    assert problems == [], "\n".join(problems)


def test_every_service_a_config_names_exists(stack: str, stack_objects: Objects, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Every <service>.<namespace> that an env value, argument or ConfigMap names is a Service the stack renders."""
    objects = stack_objects[stack]
    spaces = {spec.name for spec in namespaces.for_stack(stack_runs[stack].settings)}
    services = {(namespace_of(item.obj), item.obj["metadata"]["name"]) for item in objects if item.obj["kind"] == "Service"}
    # KServe's controller creates <isvc> and <isvc>-predictor for every InferenceService.
    services |= {(namespace_of(item.obj), f"{item.obj['metadata']['name']}{suffix}")
                 for item in objects if item.obj["kind"] == "InferenceService" for suffix in ("", "-predictor")}
    problems = []
    for item in objects:
        texts: list[str] = []
        if item.obj["kind"] == "ConfigMap":
            texts = _strings(item.obj.get("data", {}))
        elif (spec := pod_spec_of(item.obj)) is not None:
            for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
                texts += [e.get("value", "") for e in container.get("env") or []] + _strings(container.get("args", []))
        for text in texts:
            for match in SERVICE_REFERENCE.finditer(text):
                service, namespace = match.group(1), match.group(3)
                if namespace in spaces and (namespace, service) not in services:
                    problems.append(f"{_where(item)}: names {match.group(0)}, and no Service {namespace}/{service} is rendered")
    assert problems == [], "\n".join(problems)


def test_no_always_down_control_plane_targets_on_eks(stack: str, stack_objects: Objects, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """On EKS, Prometheus neither scrapes nor alerts on the managed control plane it cannot reach (scheduler, controller manager, etcd, kube-proxy)."""
    objects = stack_objects[stack]
    monitors = [item.obj["metadata"]["name"] for item in objects if item.obj["kind"] in ("ServiceMonitor", "PodMonitor")]
    if not stack_runs[stack].settings.monitoring:
        assert monitors == [], f"{stack} installs no Prometheus, yet renders monitors"
        return
    unreachable = ("kube-scheduler", "kube-controller-manager", "kube-etcd", "kube-proxy")
    assert monitors, "no monitors rendered"
    assert [m for m in monitors if m.endswith(unreachable)] == []
    rules = [r for item in objects if item.obj["kind"] == "PrometheusRule" for g in item.obj["spec"]["groups"] for r in g["rules"]]
    assert rules, "no rules rendered"
    alerts = [r["alert"] for r in rules if "alert" in r and re.search(r'job="(kube-scheduler|kube-controller-manager|kube-etcd|kube-proxy)"', r["expr"])]
    assert alerts == []


def test_kfp_keeps_upstream_defaults(upstream: Any, stack: str, stack_objects: Objects) -> None:
    """Argo's workflowDefaults and the launcher config keep every upstream default; the program only adds."""
    from tooling.render import render_kfp_upstream

    upstream_maps = {o["metadata"]["name"]: o.get("data", {}) for o in render_kfp_upstream(upstream) if o["kind"] == "ConfigMap"}
    final = {item.obj["metadata"]["name"]: item.obj.get("data", {}) for item in stack_objects[stack]
             if item.obj["kind"] == "ConfigMap" and namespace_of(item.obj) == namespaces.KUBEFLOW.name}

    def contains(big: Any, small: Any) -> bool:
        if isinstance(small, dict):
            return isinstance(big, dict) and all(k in big and contains(big[k], v) for k, v in small.items())
        return big == small

    ours = yaml.safe_load(final["workflow-controller-configmap"]["workflowDefaults"])
    theirs = yaml.safe_load(upstream_maps["workflow-controller-configmap"]["workflowDefaults"])
    assert contains(ours, theirs), f"upstream workflowDefaults {theirs} not kept in {ours}"
    assert set(upstream_maps["kfp-launcher"]) <= set(final["kfp-launcher"])
    assert final["kfp-launcher"]["defaultPipelineRoot"].startswith("s3://")


def test_models_are_reachable_through_the_load_balancer(stack: str, stack_objects: Objects, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Where the stack asks for an ALB: the controller runs on its IRSA role with an `alb` IngressClass, KServe's ingress
    config makes Ingresses of that class at the stack's domain over HTTPS, and served models carry the ALB's annotations."""
    settings = stack_runs[stack].settings
    objects = [item.obj for item in stack_objects[stack]]
    (config,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "inferenceservice-config"]
    ingress = json.loads(config["data"]["ingress"])
    classes = [o for o in objects if o["kind"] == "IngressClass"]
    if settings.serving.ingress == "none":
        assert ingress["disableIngressCreation"] is True, "a stack without a load balancer creates no model Ingress"
        assert not classes
        return
    assert (ingress["ingressClassName"], ingress["ingressDomain"], ingress["urlScheme"]) == ("alb", settings.serving.domain, "https")
    assert ingress["disableIngressCreation"] is False
    (ingress_class,) = classes
    assert ingress_class["metadata"]["name"] == "alb" and ingress_class["spec"]["controller"] == "ingress.k8s.aws/alb"
    (controller,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "aws-load-balancer-controller"]
    args = controller["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--default-target-type=ip" in args and any(a.startswith("--cluster-name=") for a in args), args
    (account,) = [o for o in objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "aws-load-balancer-controller"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    for isvc in [o for o in objects if o["kind"] == "InferenceService"]:
        annotations = isvc["metadata"]["annotations"]
        assert annotations["alb.ingress.kubernetes.io/scheme"] == settings.serving.ingress
        assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == settings.serving.certificate_arn


# Namespaces whose exception rests on subcharts the upstream copy lacks (rendered without them, see the
# warning above): kube-prometheus-stack's node-exporter needs the host's network, PID namespace and /proc.
FROM_MISSING_SUBCHARTS = {"monitoring": "kube-prometheus-stack"}
STRICTER = {"privileged": "baseline", "baseline": "restricted"}


def test_every_exception_to_restricted_is_needed(stack: str, stack_objects: Objects, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """A namespace below restricted holds a rendered pod the next stricter level refuses; kubeflow's run-time pods are
    checked against what KFP 2.17.0 configures for them (Argo's executor restricted, no defaults for the rest)."""
    pods: dict[str, list[dict]] = {}
    for item, spec in _pod_templates(stack_objects[stack]):
        pods.setdefault(namespace_of(item.obj), []).append(spec)
    for spec in namespaces.for_stack(stack_runs[stack].settings):
        if spec.enforce == "restricted":
            continue
        assert spec.reason, spec.name
        if spec.name == namespaces.KUBEFLOW.name:
            (config,) = [i.obj for i in stack_objects[stack] if i.obj.get("kind") == "ConfigMap"
                         and i.obj["metadata"]["name"] == "workflow-controller-configmap"]
            executor = yaml.safe_load(config["data"]["executor"])["securityContext"]
            assert violations({"containers": [{"name": "wait", "securityContext": executor}]}, "restricted") == []
            defaults = yaml.safe_load(config["data"]["workflowDefaults"])["spec"]
            assert "securityContext" not in defaults and "podSpecPatch" not in defaults, "run pods get defaults: raise kubeflow"
            assert all(violations(pod, "restricted") == [] for pod in pods.get(spec.name, [])), "KFP's own deployments"
            continue
        if spec.name in FROM_MISSING_SUBCHARTS and FROM_MISSING_SUBCHARTS[spec.name] in MISSING_DEPENDENCIES:
            continue
        assert any(violations(pod, STRICTER[spec.enforce]) for pod in pods.get(spec.name, [])), (
            f"{spec.name} enforces {spec.enforce} but every rendered pod meets {STRICTER[spec.enforce]}: raise it")
