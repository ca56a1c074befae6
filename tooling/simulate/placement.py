"""Does the stack place its services as its ``platformPlacement`` says (infra/placement.py)?

On every stack: each pod that names a PriorityClass names one the stack creates, platform services
the platform class, pipeline steps the steps' class. Where the placement is ``system``: every platform
service fits only ON_DEMAND groups of the system role; each incident-critical one runs at least
HA_REPLICAS replicas with a zone spread and a PDB that lets one go; and the system group's nodes less
one still hold every pod that can run only there (so a node loss never leaves one Pending).
"""

from __future__ import annotations

from infra.config import Settings
from infra.placement import HA_REPLICAS, PIPELINE_STEPS, PLATFORM, SYSTEM_ROLE
from tooling.simulate import scheduling
from tooling.simulate.findings import Finding
from tooling.simulate.pods import add, pods
from tooling.simulate.services import services


def _priority_findings(objects: list[dict]) -> list[Finding]:
    defined = {o["metadata"]["name"] for o in objects if o.get("kind") == "PriorityClass"}
    found = []
    for pod in pods(objects):
        named = pod.spec.get("podPriorityClassName" if "workflowDefaults" in pod.subject else "priorityClassName")
        if named and named not in defined and not named.startswith("system-"):
            found.append(Finding("placement", pod.subject, f"names PriorityClass {named}, which the stack does not create"))
        steps = "workflowDefaults" in pod.subject
        if steps and named != PIPELINE_STEPS.name:
            found.append(Finding("placement", pod.subject, f"pipeline steps run at priority {named or 'none'}, not "
                                                           f"{PIPELINE_STEPS.name}: set podPriorityClassName in workflowDefaults"))
    return found


def findings(settings: Settings, objects: list[dict], resources: tuple | list = ()) -> list[Finding]:
    """Every service placed against the stack's placement, and every priority that is missing or unknown."""
    found = _priority_findings(objects)
    if not settings.is_aws:
        return found
    every = services(settings, objects, resources)
    for service in every:
        named = service.pod.spec.get("priorityClassName") or ""
        if service.platform and named != PLATFORM.name and not named.startswith("system-"):
            found.append(Finding("placement", service.subject, f"a platform service at priority {named or 'none'}, not "
                                                               f"{PLATFORM.name} (infra/placement.py)"))
    if not settings.placement.pinned:
        return found
    groups = {g.name: g for g in settings.enabled_node_groups}
    for service in every:
        if not service.platform:
            continue
        elsewhere = [f"{name} ({groups[name].capacity_type})" for name in service.groups
                     if groups[name].role != SYSTEM_ROLE or groups[name].capacity_type != "ON_DEMAND"]
        if elsewhere:
            found.append(Finding("placement", service.subject, f"a platform service that may run on {', '.join(elsewhere)}; "
                                                               "platformPlacement system keeps it on the on-demand system group: "
                                                               "give it infra/placement.py's nodeSelector"))
        elif not service.groups:
            found.append(Finding("placement", service.subject, "fits no node group"))
        if service.critical:
            gaps = ([f"{service.replicas} replica(s), not at least {HA_REPLICAS}"] * (service.replicas < HA_REPLICAS)
                    + ["no zone topologySpreadConstraint"] * (not service.zone_spread)
                    + ["no PDB that lets one pod go (maxUnavailable 1)"] * (not service.drain_safe))
            if gaps:
                found.append(Finding("placement", service.subject, f"incident-critical (a fail-closed webhook's backend, or in "
                                                                   f"services.INCIDENT) with {'; '.join(gaps)}"))
    found += _system_capacity(settings, every, objects, resources)
    return found


def _system_capacity(settings: Settings, every: list, objects: list[dict], resources: tuple | list) -> list[Finding]:
    """The system group's minSize less one node holds every replica that can run only there (and its DaemonSets)."""
    found = []
    for group in scheduling.node_groups(settings, tuple(resources)):
        if group.settings.role != SYSTEM_ROLE:
            continue
        only_here = [s for s in every if s.groups == (group.settings.name,)]
        wanted = add(*({k: v * s.replicas for k, v in s.pod.requests.items()} for s in only_here))
        daemons = add(*(d.requests for d in pods(objects) if d.daemon and not scheduling.blockers(d, group, settings)))
        kind = min(group.settings.instance_types, key=lambda k: tuple(scheduling.allocatable(k).values()))
        nodes = group.settings.min_size - 1
        for resource, free in scheduling.allocatable(kind).items():
            room = nodes * (free - daemons.get(resource, 0))
            if wanted.get(resource, 0) > room:
                found.append(Finding("placement", f"node group {group.settings.name}", (
                    f"{len(only_here)} services that run only here request {wanted[resource]:.3g} {resource}, more than "
                    f"{nodes} {kind} nodes (minSize less one) hold ({room:.3g}); raise minSize or the instance type")))
    return found
