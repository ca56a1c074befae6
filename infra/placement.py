"""Where platform pods run, how many of the incident-critical ones, and who wins under pressure: one owner.

A stack's ``platformPlacement`` says whether platform services may land anywhere (``any``: dev,
staging, local) or only on the on-demand system group (``system``: prod), where a spot reclaim
cannot take them. Pipeline steps, GPU work and models keep using spot. With ``system`` the services
an operator needs during an incident (admission webhooks that fail closed, the KServe controller,
KFP's API, MLflow, Alertmanager) run ``HA_REPLICAS`` replicas spread over zones, with PDBs that let
one go (a drain never blocks). PriorityClasses order platform > serving > pipeline steps on every
stack. Every install's values take these facts from here (``Placement``), never spell them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# The node label every group carries (infra/components/node_group.py) and the system group's value.
ROLE_LABEL = "mlplatform.io/role"
SYSTEM_ROLE = "system"
SYSTEM_NODES = {ROLE_LABEL: SYSTEM_ROLE}
ZONE_KEY = "topology.kubernetes.io/zone"
HA_REPLICAS = 2
# ScheduleAnyway: a soft zone spread. DoNotSchedule would leave a replica Pending while a zone is
# down or while its zone's system node is replaced (the scheduler may not put two in one zone), which
# is the moment the second replica matters; the scheduler still spreads them while every zone is up.
WHEN_UNSATISFIABLE = "ScheduleAnyway"
PLACEMENTS = ("any", "system")
PlacementName = Literal["any", "system"]


@dataclass(frozen=True)
class Priority:
    """A PriorityClass the program creates: its name, value and what it is for."""

    name: str
    value: int
    description: str


# Below system-cluster-critical (2000000000), which EKS's own add-ons and the autoscaler keep.
PLATFORM = Priority("mlplatform-platform", 1_000_000, "Platform services: webhooks, controllers, KFP, MLflow, monitoring.")
SERVING = Priority("mlplatform-serving", 100_000, "Served models (KServe predictors).")
PIPELINE_STEPS = Priority("mlplatform-pipeline-steps", 1_000, "Pipeline steps (Argo workflow pods): first to wait under pressure.")
PRIORITIES = (PLATFORM, SERVING, PIPELINE_STEPS)


@dataclass(frozen=True)
class Placement:
    """A stack's placement of platform pods; ``pinned``: only on the on-demand system group, incident services HA."""

    pinned: bool

    @property
    def node_selector(self) -> dict[str, str]:
        """The platform pods' nodeSelector (empty: any node)."""
        return dict(SYSTEM_NODES) if self.pinned else {}

    @property
    def replicas(self) -> int:
        """Replicas of each incident-critical stateless service."""
        return HA_REPLICAS if self.pinned else 1

    def spread(self, match_labels: dict[str, str]) -> list[dict[str, Any]]:
        """Zone topologySpreadConstraints for the pods ``match_labels`` selects (none unless pinned)."""
        if not self.pinned:
            return []
        return [{"maxSkew": 1, "topologyKey": ZONE_KEY, "whenUnsatisfiable": WHEN_UNSATISFIABLE,
                 "labelSelector": {"matchLabels": dict(match_labels)}}]

    def pod_fields(self, match_labels: dict[str, str], spread: bool = False) -> dict[str, Any]:
        """The pod spec fields of a platform pod the program writes itself (nodeSelector, priority, spread)."""
        fields: dict[str, Any] = {"priorityClassName": PLATFORM.name}
        if self.pinned:
            fields["nodeSelector"] = self.node_selector
        if spread and self.pinned:
            fields["topologySpreadConstraints"] = self.spread(match_labels)
        return fields


def for_name(name: str) -> Placement:
    """The placement a stack's ``platformPlacement`` names."""
    if name not in PLACEMENTS:
        raise ValueError(f"platformPlacement {name!r}: use one of {', '.join(PLACEMENTS)}")
    return Placement(pinned=name == "system")


ANYWHERE = Placement(pinned=False)
