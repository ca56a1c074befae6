"""Namespace rules: Pod Security Admission labels at the table's level, a default deny, and the team namespaces'
quota and container defaults (infra/namespaces.py is the one table of both)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from infra import namespaces
from policies.helpers import SECURITY, get, message, of_type, rule
from policies.k8s import LIMIT_RANGE, NAMESPACE, NETWORK_POLICY, RESOURCE_QUOTA

# Pod Security levels, weakest first, and the namespaces the platform's table lets enforce less than restricted.
PSA_LEVELS = ("privileged", "baseline", "restricted")
EXCEPTIONS = {spec.name: spec.enforce for spec in namespaces.ALL}
# Where pipelines and models run (the table's team namespaces): each gets a ResourceQuota and a LimitRange.
TEAM_NAMESPACES = tuple(spec.name for spec in namespaces.ALL if spec.team)


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


def _bounded(quota: object) -> bool:
    """A ResourceQuota that caps CPU and memory (requests or limits)."""
    hard = get(getattr(quota, "props", None), "spec.hard", {}) or {}
    return any(key in hard for key in ("requests.cpu", "limits.cpu", "cpu")) and any(
        key in hard for key in ("requests.memory", "limits.memory", "memory"))


def _defaults(limits: object) -> bool:
    """A LimitRange that gives containers default requests and limits."""
    items = get(getattr(limits, "props", None), "spec.limits", []) or []
    return any(item.get("type") == "Container" and item.get("default") and item.get("defaultRequest") for item in items)


@rule("team-namespaces-bounded", "Every team namespace (pipelines, models) has a CPU and memory ResourceQuota and a LimitRange "
      "with container defaults.",
      SECURITY, Severity.MEDIUM, "Declare a ResourceQuota (requests/limits cpu and memory) and a LimitRange (Container default "
      "and defaultRequest) in the namespace.", stack=True)
def team_namespaces_bounded(args: StackValidationArgs, report: ReportViolation) -> None:
    quotas = {get(q.props, "metadata.namespace") for q in of_type(args.resources, (RESOURCE_QUOTA,)) if _bounded(q)}
    defaults = {get(r.props, "metadata.namespace") for r in of_type(args.resources, (LIMIT_RANGE,)) if _defaults(r)}
    for namespace in of_type(args.resources, (NAMESPACE,)):
        name = get(namespace.props, "metadata.name")
        missing = [kind for kind, present in (("ResourceQuota", name in quotas), ("LimitRange", name in defaults)) if not present]
        if name in TEAM_NAMESPACES and missing:
            report(message(
                f"Team namespace {name} has no {' and no '.join(missing)} bounding CPU and memory.",
                "one runaway pipeline or model could take every node of the shared cluster, and a pod with no resources "
                "would run unbounded.",
                "declare a ResourceQuota with requests/limits for cpu and memory and a LimitRange with Container defaults "
                "(infra/components/platform_namespace.py does for the table's team namespaces).",
            ), namespace.urn)
