"""Reading rendered Kubernetes objects the way the API server and its controllers do: pod templates,
the resource a kind is served as, admission webhooks and the workloads behind a Service."""

from __future__ import annotations

from dataclasses import dataclass

from infra.pod_security import pod_spec_of
from tooling import netpol, render
from tooling.simulate.findings import subject_of

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
# Namespaces every cluster has before the program runs.
CLUSTER_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# API groups the API server serves itself (no CRD needed).
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io", "storage.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io", "coordination.k8s.io",
    "discovery.k8s.io", "node.k8s.io", "certificates.k8s.io", "apiregistration.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "resource.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
})


def pod_template(obj: dict) -> tuple[dict, dict] | None:
    """(pod spec, pod labels) of a workload or Pod, else None; the spec where infra.pod_security finds it."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind not in WORKLOADS:
        return None
    if kind == "Pod":
        return pod_spec_of(obj) or {}, obj.get("metadata", {}).get("labels") or {}
    template = (((spec.get("jobTemplate") or {}).get("spec") or {}) if kind == "CronJob" else spec).get("template") or {}
    return pod_spec_of(obj) or {}, (template.get("metadata") or {}).get("labels") or {}


def claims(obj: dict) -> list[dict]:
    """The PersistentVolumeClaims an object makes: itself, a StatefulSet's templates, or the one the Prometheus
    operator makes per replica of a Prometheus or an Alertmanager (``spec.storage.volumeClaimTemplate``)."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "PersistentVolumeClaim":
        return [obj]
    if kind == "StatefulSet":
        return list(spec.get("volumeClaimTemplates") or [])
    if kind in ("Prometheus", "Alertmanager") and obj.get("apiVersion", "").startswith("monitoring.coreos.com/"):
        template = (spec.get("storage") or {}).get("volumeClaimTemplate")
        return [template] if template else []
    return []


def containers(spec: dict) -> list[dict]:
    """Init and main containers of a pod spec."""
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def subject(obj: dict) -> str:
    """``Kind namespace/name`` as findings name objects."""
    return subject_of(obj)


def runs(obj: dict, fragment: str) -> bool:
    """Whether a workload's image or command holds ``fragment`` (how a controller is recognised)."""
    template = pod_template(obj)
    return bool(template) and any(
        fragment in " ".join([c.get("image", ""), *map(str, c.get("command") or []), *map(str, c.get("args") or [])])
        for c in containers(template[0])
    )


def plural(kind: str, crds: dict[tuple[str, str], dict]) -> str:
    """The resource ``kind`` is served as (a CRD's spec.names.plural; English plural for built-ins)."""
    for (_, crd_kind), crd in crds.items():
        if crd_kind == kind:
            return crd["spec"]["names"]["plural"]
    lower = kind.lower()
    if lower.endswith(("s", "x")):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


def crds_of(objects: list[render.Rendered]) -> dict[tuple[str, str], render.Rendered]:
    """(group, kind) -> the rendered CRD that defines it."""
    return {(o.obj["spec"]["group"], o.obj["spec"]["names"]["kind"]): o for o in objects if o.obj.get("kind") == "CustomResourceDefinition"}


def namespace_labels(objects: list[render.Rendered], namespace: str) -> dict[str, str]:
    """A namespace's labels as its Namespace object in the stack declares them (plus the automatic name label)."""
    labels = {"kubernetes.io/metadata.name": namespace}
    for o in objects:
        if o.obj.get("kind") == "Namespace" and o.obj["metadata"]["name"] == namespace:
            labels |= o.obj["metadata"].get("labels") or {}
    return labels


def backends(service: dict, objects: list[render.Rendered]) -> list[render.Rendered]:
    """The workloads whose pods a Service selects (same namespace)."""
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return []
    namespace = render.namespace_of(service)
    found = []
    for o in objects:
        template = pod_template(o.obj)
        if template and render.namespace_of(o.obj) == namespace and netpol.selects({"matchLabels": selector}, template[1]):
            found.append(o)
    return found


def target_port(service: dict, port: int | str | None, workload: dict | None) -> int | None:
    """The container port a Service port (its number or name; None: the first) reaches."""
    ports = (service.get("spec") or {}).get("ports") or []
    chosen = next((p for p in ports if port is None or p.get("port") == port or p.get("name") == port), None)
    if chosen is None:
        return None
    target = chosen.get("targetPort", chosen.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    return container_port(workload, target) if workload else None


def container_port(workload: dict | None, name: str | int) -> int | None:
    """A pod template's container port by name (or the number itself)."""
    if isinstance(name, int) or (isinstance(name, str) and name.isdigit()):
        return int(name)
    template = pod_template(workload or {})
    for container in containers(template[0]) if template else []:
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return port.get("containerPort")
    return None


def find(objects: list[render.Rendered], kind: str, namespace: str, name: str) -> render.Rendered | None:
    """The stack's object of that kind, namespace and name."""
    return next((o for o in objects if render.identity(o.obj)[1:] == (kind, namespace, name)), None)


@dataclass(frozen=True)
class Webhook:
    """One admission webhook of a rendered Validating/MutatingWebhookConfiguration."""

    config: render.Rendered
    entry: dict

    @property
    def name(self) -> str:
        return self.entry["name"]

    @property
    def fails_closed(self) -> bool:
        return self.entry.get("failurePolicy", "Fail") == "Fail"

    @property
    def service(self) -> tuple[str, str, int | None]:
        """(namespace, name, port) of the Service the API server calls."""
        service = (self.entry.get("clientConfig") or {}).get("service") or {}
        return service.get("namespace", ""), service.get("name", ""), service.get("port", 443)

    def matches(self, obj: dict, resource: str, namespace_labels: dict[str, str]) -> bool:
        """Whether creating ``obj`` (served as ``resource``) goes through this webhook."""
        group, version = (obj.get("apiVersion", "").rpartition("/")[0], obj.get("apiVersion", "").rpartition("/")[2])
        for rule in self.entry.get("rules") or []:
            ops = rule.get("operations") or []
            resources = rule.get("resources") or []
            if (
                ("CREATE" in ops or "*" in ops)
                and any(g in ("*", group) for g in rule.get("apiGroups") or [])
                and any(v in ("*", version) for v in rule.get("apiVersions") or [])
                and any(r in ("*", "*/*", resource) for r in resources)
            ):
                break
        else:
            return False
        namespaced = bool(render.namespace_of(obj))
        if namespaced and not netpol.selects(self.entry.get("namespaceSelector"), namespace_labels):
            return False
        return netpol.selects(self.entry.get("objectSelector"), obj.get("metadata", {}).get("labels") or {})


def webhooks(objects: list[render.Rendered]) -> list[Webhook]:
    """Every admission webhook the stack registers."""
    return [
        Webhook(o, entry)
        for o in objects
        if o.obj.get("kind") in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
        for entry in o.obj.get("webhooks") or []
    ]
