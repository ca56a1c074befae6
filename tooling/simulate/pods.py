"""The pods a stack makes, as the scheduler weighs them: where each may go, what it reserves, what it runs.

The workloads' pod templates, and the pods the platform makes at run time: pipeline steps (Argo's
``workflowDefaults``, the steps' declared resources), KServe predictors and the Prometheus Operator's
servers. Requests follow the API's defaulting: a container's requests, else its limits, else its
namespace's LimitRange; init containers and sidecars as the scheduler sums them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from tooling.render import namespace_of
from tooling.simulate import kube
from tooling.simulate.findings import subject_of

_SUFFIX = {"": 1, "m": 1e-3, "u": 1e-6, "n": 1e-9, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]{0,2})$")


def quantity(value: object) -> float:
    """A Kubernetes quantity (``500m``, ``2Gi``, ``1e3``, 4) as a number of units."""
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIX:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (for example 500m, 2Gi, 4)")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def add(*parts: dict[str, float]) -> dict[str, float]:
    """Requests summed resource by resource."""
    return {key: sum(part.get(key, 0.0) for part in parts) for part in parts for key in part}


def _peak(*parts: dict[str, float]) -> dict[str, float]:
    return {key: max(part.get(key, 0.0) for part in parts) for part in parts for key in part}


def _container(container: dict, defaults: dict) -> dict[str, float]:
    """A container's requests: its own, else its limits (the API's defaulting), else the LimitRange's."""
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    return {name: quantity(requests.get(name, limits.get(name, defaults.get(name))))
            for name in {*requests, *limits, *defaults}}


def pod_requests(spec: dict, defaults: dict | None = None) -> dict[str, float]:
    """What the scheduler reserves: the containers (and sidecars), or the largest init step if larger."""
    defaults = defaults or {}
    sidecars: dict[str, float] = {}
    init: dict[str, float] = {}
    for container in spec.get("initContainers") or []:
        own = _container(container, defaults)
        if container.get("restartPolicy") == "Always":
            sidecars = add(sidecars, own)
        else:
            init = _peak(init, add(sidecars, own))
    return _peak(add(sidecars, *(_container(c, defaults) for c in spec.get("containers") or [])), init)


@dataclass(frozen=True)
class Pod:
    """A pod as the scheduler weighs it: where it may go (``spec``), what it reserves, which images it runs."""

    subject: str
    spec: dict
    requests: dict[str, float]
    images: tuple[str, ...] = ()
    daemon: bool = False


def _images(spec: dict) -> tuple[str, ...]:
    return tuple(c.get("image", "") for c in kube.containers(spec))


def pods(objects: list[dict]) -> list[Pod]:
    """Every pod the objects make, the workloads' and the run-time ones the platform knows of."""
    defaults: dict[str, dict] = {}
    for obj in objects:
        if obj.get("kind") == "LimitRange":
            for limit in obj.get("spec", {}).get("limits", []):
                if limit.get("type") == "Container":
                    defaults[namespace_of(obj)] = {**(limit.get("default") or {}), **(limit.get("defaultRequest") or {})}
    found = []
    for obj in objects:
        kind, ns = obj.get("kind", ""), namespace_of(obj)
        if (template := kube.pod_template(obj)) is not None:
            spec = template[0]
            found.append(Pod(subject_of(obj), spec, pod_requests(spec, defaults.get(ns)), _images(spec), kind == "DaemonSet"))
        elif kind == "ConfigMap" and "workflowDefaults" in (obj.get("data") or {}):
            found += _pipeline_steps(obj, objects, defaults.get(ns, {}))
        elif kind == "InferenceService":
            found += _inference_pods(obj, objects, defaults.get(ns, {}))
        elif kind in ("Prometheus", "Alertmanager") and obj.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            spec = obj.get("spec") or {}
            main = {"name": "main", "resources": spec.get("resources") or {}}
            found.append(Pod(subject_of(obj), spec, pod_requests({"containers": [main, *(spec.get("containers") or [])]},
                                                                 defaults.get(ns)), (spec.get("image", ""),)))
    return found


def _step_requests(container: dict) -> dict:
    """A compiled step's declared requests (KFP IR ``resources``), accelerator included."""
    declared = container.get("resources") or {}
    accelerator = declared.get("accelerator") or {}
    return {key: value for key, value in {
        "cpu": declared.get("resourceCpuRequest"), "memory": declared.get("resourceMemoryRequest"),
        accelerator.get("resourceType") or accelerator.get("type") or "": accelerator.get("resourceCount") or accelerator.get("count"),
    }.items() if key and value}


def _placed(spec: dict, placement: dict) -> dict:
    """workflowDefaults' pod spec with a step's own placement (kfp-kubernetes) applied as Argo v4.0.5 does: KFP's
    pod-spec patch is a strategic merge, so nodeSelector maps merge key by key and a tolerations list replaces."""
    labels = (placement.get("nodeSelector") or {}).get("labels") or {}
    tolerations = [{key: value for key, value in toleration.items() if key in ("key", "operator", "value", "effect")}
                   for toleration in placement.get("tolerations") or []]
    return {**spec, "nodeSelector": {**(spec.get("nodeSelector") or {}), **labels},
            **({"tolerations": tolerations} if tolerations else {})}


def _pipeline_steps(config: dict, objects: list[dict], defaults: dict) -> list[Pod]:
    """Argo's workflowDefaults place every step; the largest step the uploaded pipelines declare is weighed. A step
    with its own placement (node selector or tolerations through kfp-kubernetes) is a pod of its own."""
    spec = (yaml.safe_load(config["data"]["workflowDefaults"]) or {}).get("spec") or {}
    executor = yaml.safe_load((config.get("data") or {}).get("executor") or "{}") or {}
    wait = _container({"resources": executor.get("resources") or {}}, defaults)
    steps, images, own = [{}], set(), []
    for obj in objects:
        for text in (obj.get("data") or {}).values() if obj.get("kind") == "ConfigMap" and namespace_of(obj) == namespace_of(config) else ():
            if not (isinstance(text, str) and "deploymentSpec:" in text):
                continue
            documents = [document or {} for document in yaml.safe_load_all(text)]
            placements = {}
            for document in documents:
                platform = ((document.get("platforms") or {}).get("kubernetes") or {}).get("deploymentSpec") or {}
                for name, placement in (platform.get("executors") or {}).items():
                    if placement.get("nodeSelector") or placement.get("tolerations"):
                        placements[name] = placement
            for document in documents:
                for name, step in ((document.get("deploymentSpec") or {}).get("executors") or {}).items():
                    container = step.get("container") or {}
                    images.add(container.get("image", ""))
                    requests = _step_requests(container)
                    if name in placements:
                        main = _container({"resources": {"requests": requests}}, defaults)
                        own.append(Pod(f"{subject_of(obj)} step {name}", _placed(spec, placements[name]), add(main, wait),
                                       (container.get("image", ""),)))
                    else:
                        steps.append(requests)
    main = _peak(*(_container({"resources": {"requests": step}}, defaults) for step in steps))
    return [Pod(f"{subject_of(config)} workflowDefaults (pipeline steps)", spec, add(main, wait), tuple(sorted(images))), *own]


def _inference_pods(service: dict, objects: list[dict], defaults: dict) -> list[Pod]:
    """KServe's pods: the model container (its resources, else its runtime's), the request logger, the storage initializer."""
    config = next((o.get("data") or {} for o in objects if o.get("kind") == "ConfigMap"
                   and o.get("metadata", {}).get("name") == "inferenceservice-config"), {})

    def sidecar(key: str) -> dict:
        block = yaml.safe_load(config.get(key, "{}")) or {}
        return {"resources": {"requests": {"cpu": block.get("cpuRequest", "0"), "memory": block.get("memoryRequest", "0")}}}

    found = []
    for component in ("predictor", "transformer", "explainer"):
        spec = dict((service.get("spec") or {}).get(component) or {})
        if not spec:
            continue
        model = spec.get("model") or {}
        runtime = next((o.get("spec") or {} for o in objects if o.get("kind") in ("ClusterServingRuntime", "ServingRuntime")
                        and o["metadata"].get("name") == model.get("runtime")), {})
        for key in ("nodeSelector", "affinity"):
            spec[key] = spec.get(key) or runtime.get(key)
        spec["tolerations"] = [*(spec.get("tolerations") or []), *(runtime.get("tolerations") or [])]
        containers = list(spec.get("containers") or [])
        if model:
            runtime_container = (runtime.get("containers") or [{}])[0]
            containers.append({"resources": model.get("resources") or runtime_container.get("resources") or {},
                               "image": runtime_container.get("image", "")})
        if spec.get("logger"):
            containers.append(sidecar("logger"))
        init = [sidecar("storageInitializer")] if model.get("storageUri") else []
        requests = pod_requests({"containers": containers, "initContainers": init}, defaults)
        found.append(Pod(f"{subject_of(service)} {component}", spec, requests, _images({"containers": containers})))
    return found
