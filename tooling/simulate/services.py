"""The stack's long-running services as a fault sees them: replicas, spread, PDB, volumes and where they may run.

A service is a Deployment or StatefulSet, a Prometheus or Alertmanager of the operator, or a KServe
model (its predictor). Platform services are every service outside the models' namespace; the
incident-critical ones are the backends of admission webhooks that fail closed, plus KFP's API,
MLflow and Alertmanager (infra/placement.py). ``groups`` are the node groups a pod of the service
fits (tooling/simulate/scheduling.py, with the DaemonSets' overhead).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra import namespaces
from infra.config import Settings
from infra.placement import ZONE_KEY
from tooling import netpol, render
from tooling.simulate import kube, scheduling
from tooling.simulate.findings import subject_of
from tooling.simulate.pods import Pod, add, pods

# Incident-critical services besides the fail-closed webhooks' backends: (kind, namespace, name or "" for any).
INCIDENT = (("Deployment", namespaces.KUBEFLOW.name, "ml-pipeline"), ("Deployment", namespaces.MLFLOW.name, "mlflow"),
            ("Alertmanager", namespaces.MONITORING.name, ""))
OPERATOR_KINDS = ("Prometheus", "Alertmanager")


@dataclass(frozen=True)
class Service:
    """One long-running service of the stack."""

    subject: str
    kind: str
    namespace: str
    name: str
    pod: Pod
    labels: dict
    replicas: int
    zone_spread: bool
    volumes: tuple[str, ...]  # the PVCs (or claim templates) its pods bind: EBS volumes live in one zone
    groups: tuple[str, ...]
    model: bool = False
    critical: bool = False
    drain_safe: bool = False  # a PDB selects it and always lets one pod go

    @property
    def platform(self) -> bool:
        return not self.model


def _spread(spec: dict) -> bool:
    return any(c.get("topologyKey") == ZONE_KEY for c in spec.get("topologySpreadConstraints") or [])


def _volumes(obj: dict, spec: dict) -> tuple[str, ...]:
    claims = [v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes") or [] if v.get("persistentVolumeClaim")]
    claims += [t["metadata"]["name"] for t in (obj.get("spec") or {}).get("volumeClaimTemplates") or []]
    if obj.get("kind") in OPERATOR_KINDS and ((obj.get("spec") or {}).get("storage") or {}).get("volumeClaimTemplate"):
        claims.append("storage.volumeClaimTemplate")
    return tuple(claims)


def _drain_safe(objects: list[dict], namespace: str, labels: dict, replicas: int) -> bool:
    """Whether a PDB selects these pods and lets at least one of them be evicted."""
    for pdb in objects:
        if pdb.get("kind") != "PodDisruptionBudget" or render.namespace_of(pdb) != namespace:
            continue
        spec = pdb.get("spec") or {}
        if not netpol.selects(spec.get("selector"), labels):
            continue
        most, least = spec.get("maxUnavailable"), spec.get("minAvailable")  # numbers arrive as floats from the program
        if isinstance(most, (int, float)) and most >= 1 or isinstance(most, str) and most.rstrip("%") not in ("0", ""):
            return True
        if isinstance(least, (int, float)) and least < replicas:
            return True
    return False


def _critical_backends(objects: list[dict]) -> set[str]:
    """Subjects of the workloads behind admission webhooks that fail closed."""
    rendered = [render.Rendered("", o) for o in objects]
    found = set()
    for hook in kube.webhooks(rendered):
        namespace, name, _ = hook.service
        service = kube.find(rendered, "Service", namespace, name) if hook.fails_closed and name else None
        found |= {subject_of(b.obj) for b in kube.backends(service.obj, rendered)} if service else set()
    return found


def services(settings: Settings, objects: list[dict], resources: tuple | list = ()) -> list[Service]:
    """Every service of the stack, with the node groups its pods fit."""
    groups = scheduling.node_groups(settings, tuple(resources))
    every = pods(objects)
    by_subject = {p.subject: p for p in every}
    overhead = {g.settings.name: add(*(d.requests for d in every if d.daemon and not scheduling.blockers(d, g, settings))) for g in groups}
    critical = _critical_backends(objects)
    found = []
    for obj in objects:
        kind, namespace, name = obj.get("kind", ""), render.namespace_of(obj), obj.get("metadata", {}).get("name", "")
        spec = obj.get("spec") or {}
        if kind in ("Deployment", "StatefulSet"):
            spec_pod, labels = kube.pod_template(obj) or ({}, {})
            subjects, replicas = [subject_of(obj)], spec.get("replicas", 1)
        elif kind in OPERATOR_KINDS and obj.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            spec_pod, labels = spec, {"app.kubernetes.io/name": kind.lower(), kind.lower(): name}  # the operator's pod labels
            subjects, replicas = [subject_of(obj)], spec.get("replicas", 1)
        elif kind == "InferenceService":
            spec_pod, labels = spec.get("predictor") or {}, {}
            subjects, replicas = [f"{subject_of(obj)} predictor"], (spec.get("predictor") or {}).get("minReplicas", 1)
        else:
            continue
        pod = by_subject.get(subjects[0])
        if pod is None:
            continue
        fits = tuple(g.settings.name for g in groups if not scheduling.blockers(pod, g, settings, overhead[g.settings.name]))
        is_critical = subject_of(obj) in critical or any(
            (kind, namespace) == (k, n) and (not want or want == name) for k, n, want in INCIDENT)
        found.append(Service(subjects[0], kind, namespace, name, pod, labels, int(replicas), _spread(pod.spec),
                             _volumes(obj, spec_pod), fits, model=kind == "InferenceService", critical=is_critical,
                             drain_safe=_drain_safe(objects, namespace, labels, int(replicas))))
    return found
