"""What a fault costs: ``python -m tooling.simulate --stack prod --fault spot|node|zone``.

Each fault removes capacity and each service (tooling/simulate/services.py) comes out as:

- serving: a replica is sure to survive (none can be on the lost capacity; or, for a node or a
  zone, it has at least two replicas spread over zones, so the lost node or zone holds at most one);
- rescheduled (where): its pods may all be lost, and surviving node groups it fits take them again
  (a volume-bound pod only in its volume's zone);
- down: nothing left can run it (for a zone, a pod bound to an EBS volume there waits for the zone).

State at risk: on a zone loss, every PVC-bound store of a single replica (EBS volumes live in one
zone; which one is not known in advance, so any may be the lost one) and every RDS instance that is
not Multi-AZ. The model is worst-case over where the scheduler put pods, and assumes a lost spot
pool stays lost (every spot group at once) while the on-demand groups' Auto Scaling groups replace nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.config import Settings
from tooling.simulate.services import Service, services

FAULTS = ("spot", "node", "zone")
RDS_INSTANCE = "aws:rds/instance:Instance"


@dataclass
class FaultReport:
    """The outcome of one fault on one stack."""

    stack: str
    fault: str
    lost: str
    serving: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)
    at_risk: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"fault {self.fault} on {self.stack}: {self.lost}"]
        out += [f"  serving      {s}" for s in self.serving]
        out += [f"  rescheduled  {s}" for s in self.rescheduled]
        out += [f"  DOWN         {s}" for s in self.down]
        out.append("state at risk: " + ("; ".join(self.at_risk) if self.at_risk else "none"))
        return out

    def row(self) -> str:
        """One README table row."""
        def cell(items: list[str]) -> str:
            return "<br>".join(items) if items else "none"
        return (f"| {self.stack} | {self.fault} | {len(self.serving)} | {len(self.rescheduled)} | "
                f"{cell(self.down)} | {cell(self.at_risk)} |")


def _outcome(service: Service, fault: str, settings: Settings) -> tuple[str, str]:
    groups = {g.name: g for g in settings.enabled_node_groups}
    fits = [groups[name] for name in service.groups if name in groups]
    if not fits:
        return "down", f"{service.subject}: fits no node group"
    if fault == "spot":
        exposed = [g for g in fits if g.is_spot]
        survivors = [g.name for g in fits if not g.is_spot]
        if not exposed:
            return "serving", service.subject
        if survivors:
            return "rescheduled", f"{service.subject} -> {', '.join(survivors)}"
        return "down", f"{service.subject}: only spot groups ({', '.join(g.name for g in exposed)}) fit it"
    spread = service.replicas >= 2 and (fault == "node" or service.zone_spread)
    if spread and not service.volumes:
        return "serving", f"{service.subject} ({service.replicas} replicas)"
    if fault == "zone" and service.volumes and service.replicas < 2:
        return "down", f"{service.subject}: its volume ({', '.join(service.volumes)}) is in the lost zone until it returns"
    where = ", ".join(g.name for g in fits) + (" (its volume's zone)" if service.volumes else " (other zones)" if fault == "zone" else "")
    if len(settings.availability_zones) < 2 and fault == "zone":
        return "down", f"{service.subject}: the stack has one zone"
    return "rescheduled", f"{service.subject} -> {where}"


def simulate_fault(stack: str, settings: Settings, objects: list[dict], resources: tuple | list, fault: str) -> FaultReport:
    """The outcome of ``fault`` on every service of the stack."""
    if fault not in FAULTS:
        raise ValueError(f"fault {fault!r}: use one of {', '.join(FAULTS)}")
    if not settings.is_aws:
        return FaultReport(stack, fault, "no node groups (the local stack runs on whatever cluster the kubeconfig names)")
    spot = [g.name for g in settings.enabled_node_groups if g.is_spot]
    lost = {"spot": f"every SPOT node group ({', '.join(spot) or 'none'})", "node": "one node (any group)",
            "zone": f"one of {', '.join(settings.availability_zones)} (any)"}[fault]
    report = FaultReport(stack, fault, lost)
    for service in sorted(services(settings, objects, resources), key=lambda s: (s.model, s.subject)):
        outcome, line = _outcome(service, fault, settings)
        getattr(report, outcome).append(line)
        if fault == "zone" and service.volumes and service.replicas < 2:
            report.at_risk.append(f"{service.subject} ({', '.join(service.volumes)})")
    if fault == "zone":
        report.at_risk += [f"RDS {r.name} (single-AZ)" for r in resources if r.type == RDS_INSTANCE and not r.inputs.get("multiAz")]
    return report


def failed(report: FaultReport, settings: Settings) -> list[str]:
    """What breaks the promise of a stack with platformPlacement system: nothing down on spot or node, no state at risk on zone."""
    if not settings.placement.pinned:
        return []
    if report.fault == "zone":
        return [f"state at risk on a zone loss: {item}" for item in report.at_risk]
    return [f"down on a {report.fault} loss: {item}" for item in report.down]


# The README section that holds the fault table (one block of rows per stack, written by --readme).
README_SECTION = "## Faults: what losing spot, a node or a zone costs"
TABLE_HEAD = ("| Stack | Fault | Serving | Rescheduled | Down | State at risk |\n"
              "|---|---|---|---|---|---|")


def readme_rows(readme: str, stack: str) -> list[str]:
    """The fault table's rows of ``stack`` in README_SECTION."""
    section = readme.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith(f"| {stack} |")]


def with_rows(readme: str, stack: str, rows: list[str]) -> str:
    """``readme`` with ``stack``'s rows of the fault table replaced by ``rows`` (others kept, stacks in order)."""
    head, rest = readme.split(README_SECTION, 1)
    section, sep, tail = rest.partition("\n## ")
    before, table_sep, after = section.partition(TABLE_HEAD + "\n")
    if not table_sep:
        raise ValueError(f"README's section {README_SECTION!r} lacks the fault table's head")
    lines = after.splitlines(keepends=True)
    table = [line for line in lines if line.startswith("| ")]
    rest_lines = lines[len(table):]
    kept = [line.rstrip("\n") for line in table if not line.startswith(f"| {stack} |")] + rows
    kept.sort(key=lambda line: line.split("|")[1].strip())
    body = "".join(f"{line}\n" for line in kept)
    return head + README_SECTION + before + TABLE_HEAD + "\n" + body + "".join(rest_lines) + sep + tail
