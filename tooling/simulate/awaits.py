"""Awaits: nothing a step waits for depends on something created later, and each timeout covers its wait.

What a pod template names (ServiceAccounts, Secrets, ConfigMaps, PVCs) is ``references``'s; here:
the images a workload runs that come from a resource of the stack (an ECR repository), and the
StorageClass its claims bind through. The time a step needs is estimated with the model below and
compared with its timeout (a Helm release's ``timeout``, 300 s by default, covers its hooks and its
wait together; pulumi-kubernetes gives each object it awaits 600 s). The model is a floor (small
images, a fast registry, no retries), so a step whose floor exceeds its timeout fails for certain:
only clear violations are findings.
"""

from __future__ import annotations

from tooling import render
from tooling.simulate import kube
from tooling.simulate.engine import DIRECTORY, RELEASE, Plan, hook_phases
from tooling.simulate.findings import Finding

# The time model: floors, in seconds. One image pulled onto a node with nothing cached (tens of MB at
# the registry's speed; the charts' images are 20-500 MB); the kubelet pulls serially
# (serializeImagePulls defaults to true), so a pod's distinct images add up.
IMAGE_PULL_S = 20
# A container's process start to its first passing readiness probe, on top of the probe's own initialDelaySeconds.
CONTAINER_START_S = 5
# A Job's work once started (the platform's Jobs and the charts' hooks are short: certificates, an upload, an API check).
JOB_RUN_S = 10
# The Cluster Autoscaler scaling a group from zero for a pod that requests a GPU: ASG launch, kubelet
# join, the node's DaemonSets; never under three minutes on EKS.
NODE_SCALE_UP_S = 180
# Helm installing a chart's crds/ and waiting until the API server has established them.
CRDS_S = 5
GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def workload_seconds(obj: dict) -> int:
    """The floor of the seconds from creation to ready (for a Job or Pod: to done) of one workload."""
    template = kube.pod_template(obj)
    if template is None:
        return 0
    spec = template[0]
    containers = kube.containers(spec)
    images = {c.get("image") for c in containers}
    delay = max((((c.get("readinessProbe") or c.get("startupProbe") or {}).get("initialDelaySeconds") or 0) for c in spec.get("containers") or []), default=0)
    seconds = IMAGE_PULL_S * len(images) + CONTAINER_START_S * (1 + len(spec.get("initContainers") or [])) + int(delay)
    if any(GPU_RESOURCE in ((c.get("resources") or {}).get(k) or {}) for c in containers for k in ("requests", "limits")):
        seconds += NODE_SCALE_UP_S
    if obj.get("kind") in ("Job", "Pod"):
        seconds += JOB_RUN_S
    spec_replicas = (obj.get("spec") or {}).get("replicas") or 1
    if obj.get("kind") == "StatefulSet" and (obj.get("spec") or {}).get("podManagementPolicy", "OrderedReady") == "OrderedReady":
        seconds *= int(spec_replicas)
    return seconds


def estimate(plan: Plan, urn: str) -> int:
    """The floor of the seconds the step of ``urn`` waits: a release's crds/, hooks in turn, its workloads side by side."""
    awaited = plan.awaited(urn)
    if plan.by_urn[urn].type != RELEASE:
        return max((workload_seconds(o) for o in awaited), default=0)
    hooks = sum(workload_seconds(o) for o in awaited if hook_phases(o))
    main = max((workload_seconds(o) for o in awaited if not hook_phases(o)), default=0)
    return (CRDS_S if plan.helm_crds(urn) else 0) + hooks + main


def _timeout_findings(plan: Plan) -> list[Finding]:
    found = []
    for urn in plan.wave:
        if plan.by_urn[urn].type in (RELEASE, DIRECTORY) or render.manifest_of(plan.by_urn[urn]):
            needed, timeout = estimate(plan, urn), plan.timeout(urn)
            if needed > timeout:
                found.append(Finding(
                    "awaits", plan.name(urn),
                    f"awaits {len(plan.awaited(urn))} objects for at least {needed} s (image pulls, starts, hooks, GPU scale-up), "
                    f"more than its timeout of {timeout} s",
                ))
    return found


def _image_findings(plan: Plan) -> list[Finding]:
    """Images that come from a repository of the stack the workload's step does not wait for."""
    repositories = [(r, r.outputs.get("repositoryUrl")) for r in plan.run.resources if r.outputs.get("repositoryUrl")]
    found = []
    for o in plan.objects:
        template = kube.pod_template(o.obj)
        for container in kube.containers(template[0]) if template else []:
            for repository, url in repositories:
                if container.get("image", "").startswith(f"{url}@") or container.get("image", "").startswith(f"{url}:"):
                    if not plan.waits_for(o.source, repository.urn):
                        found.append(Finding(
                            "awaits", kube.subject(o.obj),
                            f"runs image {container['image']} from {plan.name(repository.urn)} (wave {plan.wave[repository.urn]}), "
                            f"which {plan.name(o.source)} (wave {plan.wave[o.source]}) does not wait for",
                        ))
    return found


def _storage_findings(plan: Plan) -> list[Finding]:
    """Claims whose StorageClass is created by a step theirs does not wait for (their pods stay Pending)."""
    if not plan.run.settings.is_aws:
        return []  # a local cluster brings its own default StorageClass
    classes = [o for o in plan.objects if o.obj.get("kind") == "StorageClass"]
    found = []
    for o in plan.objects:
        for claim in kube.claims(o.obj):
            wanted = (claim.get("spec") or {}).get("storageClassName")
            matching = [c for c in classes if (c.obj["metadata"]["name"] == wanted if wanted else
                                               (c.obj["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true")]
            what = f"StorageClass {wanted}" if wanted else "the default StorageClass"
            if not matching:
                found.append(Finding("awaits", kube.subject(o.obj), f"claims {what}, which the stack does not create: it stays Pending"))
            elif not any(plan.waits_for(o.source, c.source) or c.source == o.source for c in matching):
                found.append(Finding(
                    "awaits", kube.subject(o.obj),
                    f"claims {what} from {plan.name(matching[0].source)}, which {plan.name(o.source)} does not wait for",
                ))
    return found


def findings(plan: Plan) -> list[Finding]:
    """Every wait that cannot end well."""
    return [*_timeout_findings(plan), *_image_findings(plan), *_storage_findings(plan)]
