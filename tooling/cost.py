"""Monthly cost estimate of a stack's resource graph from the price table in tooling/prices.yaml.

Node groups are priced at desired and at max size; a SPOT group at the
configured discount, with on-demand shown beside it; multi-type groups at their
first (preferred) instance type. What the table has no price for (a region, an
instance type, an RDS class) is a line saying so, never an error: the diff a
reviewer reads must not be lost to a missing price.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PRICES = Path(__file__).resolve().parent / "prices.yaml"
# The line naming what is billed by use, which no table of hourly prices can estimate.
USAGE_BASED = "usage-based, not estimated"


@dataclass(frozen=True)
class CostLine:
    """One item: USD per month at desired size and at max size, or None for both when it has no price."""

    item: str
    desired: float | None
    maximum: float | None
    note: str = ""

    @property
    def priced(self) -> bool:
        return self.desired is not None


def _unpriced(item: str, what: str) -> CostLine:
    return CostLine(item, None, None, f"no price for {what} in {PRICES.name}: add it with its source and date")


def load_prices() -> dict[str, Any]:
    return yaml.safe_load(PRICES.read_text())


def estimate(snapshot: dict[str, Any], region: str, prices: dict[str, Any] | None = None) -> list[CostLine]:
    """Cost lines for every priced resource in ``snapshot`` (see tooling.snapshot)."""
    prices = prices or load_prices()
    table = prices["regions"].get(region)
    if table is None:
        return [_unpriced(f"everything in {region}", f"region {region}")]
    hours = prices["hours_per_month"]
    discount = prices["spot_discount"]
    lines: list[CostLine] = []
    counts: dict[str, int] = {}
    for resource in snapshot["resources"].values():
        counts[resource["type"]] = counts.get(resource["type"], 0) + 1
        inputs = resource["inputs"]
        if resource["type"] == "aws:eks/nodeGroup:NodeGroup":
            instance = inputs["instanceTypes"][0]
            hourly = table["ec2_hour"].get(instance)
            scaling = inputs["scalingConfig"]
            spot = inputs.get("capacityType") == "SPOT"
            label = f"node group {inputs.get('nodeGroupNamePrefix', resource['name']).rstrip('-')} ({instance} x{scaling['desiredSize']:.0f}..{scaling['maxSize']:.0f}, {'spot' if spot else 'on-demand'})"
            if hourly is None:
                lines.append(_unpriced(label, f"{instance} in {region}"))
                continue
            rate = hourly * hours * ((1 - discount) if spot else 1)
            note = f"on-demand would be ${hourly * hours * scaling['desiredSize']:.0f} / ${hourly * hours * scaling['maxSize']:.0f}" if spot else ""
            lines.append(CostLine(label, rate * scaling["desiredSize"], rate * scaling["maxSize"], note))
        elif resource["type"] == "aws:rds/instance:Instance":
            label = f"RDS {inputs['instanceClass']}{' Multi-AZ' if inputs.get('multiAz') else ''}"
            if inputs["instanceClass"] not in table["rds_hour"]:
                lines.append(_unpriced(label, f"{inputs['instanceClass']} in {region}"))
                continue
            hourly = table["rds_hour"][inputs["instanceClass"]] * (2 if inputs.get("multiAz") else 1)
            storage = inputs.get("allocatedStorage", 20) * table["rds_gb_month"]
            lines.append(CostLine(label, hourly * hours + storage, hourly * hours + storage))
    # An interface endpoint is billed per zone it has a network interface in (one per subnet).
    endpoint_zones = sum(
        len(r["inputs"].get("subnetIds") or [])
        for r in snapshot["resources"].values()
        if r["type"] == "aws:ec2/vpcEndpoint:VpcEndpoint" and r["inputs"].get("vpcEndpointType") == "Interface"
    )
    fixed = [
        ("EKS control plane", counts.get("aws:eks/cluster:Cluster", 0) * table["eks_cluster_hour"] * hours),
        ("NAT gateways", counts.get("aws:ec2/natGateway:NatGateway", 0) * table["nat_gateway_hour"] * hours),
        ("S3 storage (assumed GB per bucket)", counts.get("aws:s3/bucket:Bucket", 0) * prices["assumed_bucket_gb"] * table["s3_gb_month"]),
        ("KMS keys", counts.get("aws:kms/key:Key", 0) * table["kms_key_month"]),
        ("VPC interface endpoints (per zone)", endpoint_zones * table["vpc_endpoint_hour"] * hours),
    ]
    # Load balancers: LoadBalancer Services, and the ALBs of the models' and the UIs' Ingresses (one per ingress group).
    resources = list(snapshot["resources"].values())
    balancers = sum(1 for r in resources if r["type"] == "kubernetes:core/v1:Service" and r["inputs"].get("spec", {}).get("type") == "LoadBalancer")
    releases = [r["inputs"].get("values") or {} for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release"]
    groups = {(values.get("loadBalancer") or {}).get("groupName") for values in releases if (values.get("loadBalancer") or {}).get("enabled")}
    # The UIs' ALB (sso): the sign-in proxies' Ingresses share one group.
    groups |= {f"ui:{group}" for values in releases
               if (group := (((values.get("ingress") or {}).get("annotations") or {}).get("alb.ingress.kubernetes.io/group.name")))}
    balancers += len(groups)
    fixed.append(("load balancers (hours; LCUs not included)", balancers * table["load_balancer_hour"] * hours))
    lines.sort(key=lambda line: line.item)
    lines += [CostLine(item, cost, cost) for item, cost in fixed if cost]
    lines += _node_disks(resources, table)
    lines.append(CostLine(USAGE_BASED, None, None,
                          "NAT and PrivateLink per GB, data transfer, CloudWatch Logs ingestion and storage, ALB LCUs, S3 requests"))
    return lines


def _node_disks(resources: list[dict[str, Any]], table: dict[str, Any]) -> list[CostLine]:
    """The gp3 root volumes of the node groups' nodes, at desired and at max size."""
    sizes = {r["name"]: sum(m.get("ebs", {}).get("volumeSize", 0) for m in r["inputs"].get("blockDeviceMappings") or [])
             for r in resources if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate"}
    desired = maximum = 0.0
    for group in (r for r in resources if r["type"] == "aws:eks/nodeGroup:NodeGroup"):
        size, scaling = sizes.get(group["name"], 0), group["inputs"]["scalingConfig"]
        desired += size * scaling["desiredSize"]
        maximum += size * scaling["maxSize"]
    price = table["ebs_gp3_gb_month"]
    return [CostLine("node disks (gp3)", desired * price, maximum * price)] if maximum else []


def total(lines: list[CostLine]) -> tuple[float, float]:
    """The priced lines' totals (unpriced lines are listed on their own; see :func:`unpriced`)."""
    priced = [line for line in lines if line.priced]
    return sum(line.desired or 0.0 for line in priced), sum(line.maximum or 0.0 for line in priced)


def unpriced(lines: list[CostLine]) -> list[CostLine]:
    """The lines the table has no price for (not the usage-based line): the totals leave them out."""
    return [line for line in lines if not line.priced and line.item != USAGE_BASED]
