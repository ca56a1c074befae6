"""Would every pod the stack declares find a node, and could the Cluster Autoscaler make one for it?

``findings(settings, objects, resources=())`` takes a stack's settings, every object it applies
(``tooling.render.stack_objects``) and, optionally, the program's registrations (``run.resources``).
Pods are the templates of workloads plus the pods the platform makes at run time: pipeline steps
(Argo's ``workflowDefaults``, the steps' declared resources), KServe predictors and the Prometheus
Operator's servers. A node group is modelled as EKS starts its nodes: the program's labels and
taints, EKS's well-known labels, and the allocatable CPU and memory of its smallest instance type
(``instances.yaml``; EKS AL2023's reservations). With ``resources`` the labels and taints are the
ones registered, and groups that start empty are also checked as the autoscaler sees them: only the
node-template tags on their Auto Scaling group. The local stack (no AWS) has no node groups: nothing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra import gpu
from infra.components.node_group import NODE_TEMPLATE, node_labels
from infra.config import NodeGroupSettings, Settings
from tooling.simulate.findings import Finding
from tooling.simulate.pods import Pod, add, pods, quantity

INSTANCES_FILE = Path(__file__).with_name("instances.yaml")
INSTANCES: dict[str, dict] = yaml.safe_load(INSTANCES_FILE.read_text())["instances"]
# The Cluster Autoscaler on AWS counts a node as a GPU node by this label (GPULabel, aws_cloud_provider.go).
# Spelled here from the autoscaler's source, not imported from infra/gpu.py, so a typo there is caught.
AUTOSCALER_GPU_LABEL = "k8s.amazonaws.com/accelerator"
# Labels the autoscaler's node template has without any tag (buildGenericLabels, aws_manager.go, 1.35.0).
TEMPLATE_GENERIC = ("kubernetes.io/arch", "kubernetes.io/os", "node.kubernetes.io/instance-type",
                    "topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.ebs.csi.aws.com/zone",
                    "kubernetes.io/hostname")
# Labels a node agent adds only under a condition the platform never sets up: a DaemonSet selecting one
# is meant to run nowhere here and is not flagged.
CONDITIONAL_LABELS = {"nvidia.com/mps.capable": "gpu-feature-discovery sets it only where MPS sharing is configured"}
# Images published for linux/amd64 only, and how we know (every other image here is multi-arch or unknown).
AMD64_ONLY = {re.compile(r"\.dkr\.ecr\.[^/]+/[^@:]*pipeline-steps[@:]"):
              "the pipeline step image (scripts/publish_step_image.sh builds it with no --platform on an amd64 runner)"}
_BLOCKING = ("NoSchedule", "NoExecute")
@dataclass(frozen=True)
class Group:
    """A node group as its nodes come up: labels and taints (Kubernetes spelling), and its ASG's node-template tags."""

    settings: NodeGroupSettings
    labels: dict[str, str]
    taints: tuple[dict, ...]
    template: dict[str, str] | None  # None: the registrations were not given
    imagined: bool = False  # the autoscaler's template of the group rather than the group

    @property
    def arch(self) -> str:
        return "arm64" if "_ARM_64" in self.settings.ami_type else "amd64"

    def nodes(self, settings: Settings) -> list[tuple[str, dict[str, str]]]:
        """(instance type, labels) of each kind of node the group may start, one per type and zone."""
        well_known = {"eks.amazonaws.com/nodegroup": f"{self.settings.name}-<generated>",
                      "eks.amazonaws.com/capacityType": self.settings.capacity_type,
                      "kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux",
                      "kubernetes.io/arch": self.arch, "beta.kubernetes.io/arch": self.arch,
                      "topology.kubernetes.io/region": settings.aws_region, "kubernetes.io/hostname": "<node>"}
        nodes = [(kind, {**well_known, "node.kubernetes.io/instance-type": kind, "beta.kubernetes.io/instance-type": kind,
                         "topology.kubernetes.io/zone": zone, "topology.ebs.csi.aws.com/zone": zone})
                 for kind in self.settings.instance_types for zone in settings.availability_zones]
        # The autoscaler's template has only its generic labels and the tags' (aws_manager.go buildNodeFromTemplate).
        return [(kind, {**{k: v for k, v in labels.items() if k in TEMPLATE_GENERIC or not self.imagined}, **self.labels})
                for kind, labels in nodes]

    def template_group(self) -> Group:
        """The group as the autoscaler imagines a node of it when it has none: only what the tags say."""
        prefix = f"{NODE_TEMPLATE}/"
        tags = {key.removeprefix(prefix): value for key, value in (self.template or {}).items() if key.startswith(prefix)}
        labels = {key.removeprefix("label/"): value for key, value in tags.items() if key.startswith("label/")}
        taints = tuple({"key": key.removeprefix("taint/"), "value": value.rpartition(":")[0], "effect": value.rpartition(":")[2]}
                       for key, value in tags.items() if key.startswith("taint/"))
        return Group(self.settings, labels, taints, self.template, imagined=True)

    def gpus(self, instance_type: str) -> float:
        """GPUs of a node; the template's resources tag, if any, when the autoscaler imagines one (else its own table)."""
        tag = (self.template or {}).get(f"{NODE_TEMPLATE}/resources/{gpu.RESOURCE}") if self.imagined else None
        return quantity(tag) if tag is not None else INSTANCES[instance_type]["gpus"]


def _kubernetes_effect(effect: str) -> str:
    """EKS's NO_SCHEDULE as Kubernetes spells it, NoSchedule."""
    return effect.title().replace("_", "") if effect.isupper() else effect


def node_groups(settings: Settings, resources: tuple = ()) -> list[Group]:
    """The enabled groups, from their registrations when given, else from the program's own functions."""
    groups = []
    for group in settings.enabled_node_groups:
        declared = next((r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup" and (
            r.inputs.get("nodeGroupName") == group.name or r.inputs.get("nodeGroupNamePrefix") == f"{group.name}-")), None)
        labels, taints = (declared.inputs.get("labels") or {}, declared.inputs.get("taints") or []) if declared else (
            node_labels(group), [gpu.TAINT] if group.is_gpu else [])
        tags = {r.inputs["tag"]["key"]: r.inputs["tag"]["value"] for r in resources
                if declared and r.type == "aws:autoscaling/tag:Tag" and r.parent == declared.parent}
        groups.append(Group(group, dict(labels), tuple({"key": t["key"], "value": t.get("value", ""),
                                                        "effect": _kubernetes_effect(t["effect"])} for t in taints),
                            tags if resources else None))
    return groups


def _expression_miss(expression: dict, labels: dict[str, str], noun: str) -> str:
    key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
    value = labels.get(key)
    if operator in ("Gt", "Lt"):
        number = int(value) if value is not None and value.lstrip("-").isdigit() else None
        ok = number is not None and (number > int(values[0]) if operator == "Gt" else number < int(values[0]))
    else:
        ok = {"In": value in values, "NotIn": value not in values, "Exists": value is not None, "DoesNotExist": value is None}[operator]
    return "" if ok else f"{noun}{key}={value}, not {operator} {values}" if value is not None else f"lacks {noun}{key} ({operator} {values})"


def selector_misses(spec: dict, labels: dict[str, str], noun: str = "label ") -> list[str]:
    """Why a node with ``labels`` fails the pod's nodeSelector and required node affinity (empty: it passes)."""
    misses = [f"lacks {noun}{key}={value}" if key not in labels else f"{noun}{key}={labels[key]}, not {value}"
              for key, value in (spec.get("nodeSelector") or {}).items() if labels.get(key) != value]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = [[_expression_miss(e, labels, noun) for e in term.get("matchExpressions") or []]
             + ["matchFields (node names) cannot be known"] * bool(term.get("matchFields"))
             for term in required.get("nodeSelectorTerms") or []]
    term_misses = [[miss for miss in term if miss] or ([] if term else ["an empty node selector term"]) for term in terms]
    if terms and all(term_misses):
        misses.append(" and ".join(min(term_misses, key=len)))
    return misses


def _tolerates(toleration: dict, taint: dict) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint["key"]
    return toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get("value", "")


@functools.cache
def allocatable(instance_type: str) -> dict[str, float]:
    """CPU (cores) and memory (bytes) pods may request on an AL2023 node (nodeadm's kube-reserved and eviction)."""
    spec = INSTANCES[instance_type]
    max_pods = spec["max_enis"] * (spec["ipv4_per_eni"] - 1) + 2
    millis = spec["vcpu"] * 1000
    reserved = sum((min(millis, end) - start) * share // 10000 for start, end, share in
                   ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, max(millis, 4000), 25)) if millis > start)
    return {"cpu": (millis - reserved) / 1000, "memory": spec["memory_gib"] * 2**30 - (255 + 11 * max_pods + 100) * 2**20}


def _format(resource: str, amount: float) -> str:
    return f"{amount * 1000:.0f}m CPU" if resource == "cpu" else f"{amount / 2**20:.0f}Mi memory"


def _capacity_misses(pod: Pod, group: Group, kind: str, overhead: dict[str, float]) -> list[str]:
    wanted = pod.requests.get(gpu.RESOURCE, 0)
    misses = [f"requests {wanted:g} {gpu.RESOURCE} > {group.gpus(kind):g} on {kind}"] if wanted > group.gpus(kind) else []
    for resource, free in allocatable(kind).items():
        taken = overhead.get(resource, 0)
        if pod.requests.get(resource, 0) > free - taken:
            after = f" after DaemonSets' {_format(resource, taken).split()[0]}" if taken else ""
            misses.append(f"requests {_format(resource, pod.requests[resource])} > {_format(resource, free - taken).split()[0]} "
                          f"allocatable on {kind}{after}")
    return misses


def blockers(pod: Pod, group: Group, settings: Settings, overhead: dict[str, float] | None = None, noun: str = "label ") -> list[str]:
    """Why ``pod`` cannot run on a new node of ``group`` (empty: it can)."""
    nodes = group.nodes(settings)
    fitting = [kind for kind, labels in nodes if not selector_misses(pod.spec, labels, noun)]
    reasons = [] if fitting else list(dict.fromkeys(selector_misses(pod.spec, nodes[0][1], noun)))
    reasons += [f"taint {t['key']}={t.get('value', '')}:{t['effect']} not tolerated" for t in group.taints
                if t["effect"] in _BLOCKING and not any(_tolerates(tol, t) for tol in pod.spec.get("tolerations") or [])]
    kinds = [kind for kind in dict.fromkeys(fitting or group.settings.instance_types) if kind in INSTANCES]
    for kind in sorted(kinds, key=lambda k: tuple(allocatable(k).values())):  # smallest first; ties in declared order
        if short := _capacity_misses(pod, group, kind, overhead or {}):
            reasons += short  # the smallest type that is short names the group's shortfall
            break
    amd64 = [why for image in pod.images for pattern, why in AMD64_ONLY.items() if pattern.search(image)]
    if amd64 and group.arch == "arm64":
        reasons.append(f"arm64 nodes, and {amd64[0]} is amd64 only")
    return reasons


def group_findings(groups: list[Group]) -> list[Finding]:
    """What is wrong with a node group itself: an unknown instance type, a mismatched AMI, what the autoscaler lacks."""
    found = []
    for group in groups:
        subject, kinds = f"node group {group.settings.name}", group.settings.instance_types
        found += [Finding("scheduling", subject, f"instance type {kind} is not in tooling/simulate/instances.yaml; add its vCPU, "
                                                 "memory, GPUs, arch, ENIs and IPv4 per ENI with their source")
                  for kind in kinds if kind not in INSTANCES]
        if other := [kind for kind in kinds if kind in INSTANCES and INSTANCES[kind]["arch"] != group.arch]:
            found.append(Finding("scheduling", subject, f"AMI type {group.settings.ami_type} is {group.arch}, but {', '.join(other)} "
                                                        f"{'is' if len(other) == 1 else 'are'} not"))
        if group.settings.is_gpu and AUTOSCALER_GPU_LABEL not in group.labels:
            found.append(Finding("scheduling", subject, f"lacks label {AUTOSCALER_GPU_LABEL}, the Cluster Autoscaler's GPU label on AWS: "
                                                        "without it the autoscaler starts more GPU nodes while the first one's device "
                                                        "plugin comes up"))
        if group.settings.min_size == 0 and group.template is not None:
            wanted = {f"taint/{t['key']}": (f"{t.get('value', '')}:{t['effect']}", "the autoscaler would start it for pods that do "
                                            "not tolerate the taint") for t in group.taints}
            if group.settings.is_gpu:
                wanted[f"label/{AUTOSCALER_GPU_LABEL}"] = (group.labels.get(AUTOSCALER_GPU_LABEL, "<GPU name>"),
                                                           "the autoscaler's template of it is no GPU node")
            found += [Finding("scheduling", subject, f"starts empty, and its Auto Scaling group lacks node-template tag "
                                                     f"{NODE_TEMPLATE}/{key}={value}: {why}")
                      for key, (value, why) in wanted.items() if f"{NODE_TEMPLATE}/{key}" not in group.template]
    return found


def findings(settings: Settings, objects: list[dict], resources: tuple | list = ()) -> list[Finding]:
    """Every pod that fits no node group, or only groups that start empty and whose autoscaler template does not fit it."""
    if not settings.is_aws:
        return []  # the local stack's nodes are whatever cluster the kubeconfig names
    groups = node_groups(settings, tuple(resources))
    found = group_findings(groups)
    every = pods(objects)
    overhead = {g.settings.name: add(*(d.requests for d in every if d.daemon and not blockers(d, g, settings))) for g in groups}
    for pod in every:
        if pod.daemon and any(key in CONDITIONAL_LABELS for key in pod.spec.get("nodeSelector") or {}):
            continue
        verdicts = {g.settings.name: blockers(pod, g, settings, None if pod.daemon else overhead[g.settings.name]) for g in groups}
        fits = [g for g in groups if not verdicts[g.settings.name]]
        if not fits:
            # Closest first: groups whose labels the pod selects, then fewest blockers, then declared order.
            ranked = sorted(groups, key=lambda g: (all(selector_misses(pod.spec, labels) for _, labels in g.nodes(settings)),
                                                   len(verdicts[g.settings.name])))
            found.append(Finding("scheduling", pod.subject, "fits no node group: " + "; ".join(
                f"{g.settings.name}: {', '.join(verdicts[g.settings.name])}" for g in ranked)))
        elif not pod.daemon and all(g.settings.min_size == 0 and g.template is not None for g in fits):
            # No node to copy: the autoscaler scales a group up only if its tag-built template fits the pod.
            imagined = {g.settings.name: blockers(pod, g.template_group(), settings, noun=f"node-template tag {NODE_TEMPLATE}/label/")
                        for g in fits}
            if all(imagined.values()):
                found.append(Finding("scheduling", pod.subject, "fits only groups that start empty, and the Cluster Autoscaler's "
                                     "template of none fits: " + "; ".join(f"{n}: {', '.join(r)}" for n, r in imagined.items())))
    return sorted(found)
