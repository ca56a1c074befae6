"""Node group rules: private subnets only, no SSH, IMDSv2, encrypted volumes, the GPU taint, spot diversity, the GPU
budget, the node role; the groups each environment keeps (node_groups.py).
"""

from __future__ import annotations

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from infra import gpu
from infra.placement import SYSTEM_NODES
from policies.helpers import (
    COST,
    SECURITY,
    Tunable,
    get,
    message,
    of_type,
    resource_environment,
    rule,
)
from policies.iam import ATTACHMENT, ROLE

# The platform's GPU taint as a person writes it: nvidia.com/gpu=true:NoSchedule.
GPU_TAINT = f"{gpu.TAINT['key']}={gpu.TAINT['value']}:{gpu.TAINT_EFFECT}"


NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


MAX_HOP_LIMIT = Tunable("maxHopLimit", {"type": "integer"}, 1)


@rule("nodes-imdsv2-required", "Nodes require IMDSv2 with a hop limit of 1.",
      SECURITY, Severity.HIGH, "Use a launch template with http_tokens required and hop limit 1.",
      tunables=[MAX_HOP_LIMIT])
def imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == NODE_GROUP and not get(args.props, "launchTemplate.id"):
        report(message(
            "The node group has no launch template, so IMDSv2 and disk encryption are not enforced.",
            "pods could steal the node role's credentials through IMDSv1.",
            "attach a launch template with metadata_options http_tokens required and hop limit 1.",
        ))
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    limit = MAX_HOP_LIMIT.read(args)
    options = get(args.props, "metadataOptions") or {}
    if options.get("httpTokens") != "required" or (options.get("httpPutResponseHopLimit") or 2) > limit:
        report(message(
            f"Launch template does not require IMDSv2 with a hop limit of {limit}.",
            "pods could read the node role's credentials from the instance metadata service.",
            f"set metadata_options http_tokens required and http_put_response_hop_limit {limit}.",
        ))


@rule("nodes-encrypted-volumes", "Node volumes are encrypted.",
      SECURITY, Severity.HIGH, "Map every volume in the launch template with ebs.encrypted true.")
def encrypted_volumes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    devices = get(args.props, "blockDeviceMappings", []) or []
    plain = [d.get("deviceName") for d in devices if str(get(d, "ebs.encrypted")).lower() != "true"]
    if plain or not devices:
        report(message(
            f"Node volumes {plain or ['(root, unmapped)']} are not encrypted.",
            "container images, logs and cached data sets would rest unencrypted on EBS.",
            "map the root (and data) volume with ebs.encrypted true.",
        ))


@rule("gpu-nodes-tainted", f"GPU node groups are tainted {GPU_TAINT}.",
      SECURITY, Severity.MEDIUM, f"Add the {GPU_TAINT} taint.")
def gpu_tainted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_GROUP or get(args.props, "amiType") not in gpu.ALL_NVIDIA_AMI_TYPES:
        return
    taints = get(args.props, "taints", []) or []
    if not any(t.get("key") == gpu.TAINT["key"] and t.get("effect") == gpu.TAINT["effect"] for t in taints):
        report(message(
            f"A GPU node group is not tainted {GPU_TAINT}.",
            "ordinary pods would fill the most expensive nodes and keep them from scaling to zero.",
            f"add the taint {GPU_TAINT} to the node group.",
        ))


MIN_INSTANCE_TYPES = Tunable("minInstanceTypes", {"type": "integer"}, 3)


@rule("spot-nodes-diversified", "SPOT node groups are diversified over several instance types.",
      SECURITY, Severity.MEDIUM, "List at least 3 instance types of one size.",
      tunables=[MIN_INSTANCE_TYPES])
def spot_diversified(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_GROUP or get(args.props, "capacityType") != "SPOT":
        return
    minimum = MIN_INSTANCE_TYPES.read(args)
    types = get(args.props, "instanceTypes", []) or []
    if len(types) < minimum:
        report(message(
            f"A SPOT node group uses {len(types)} instance types, fewer than {minimum}.",
            "one reclaimed spot pool would take the whole group down.",
            f"list at least {minimum} instance types of the same size from different families.",
        ))


MAX_GPU_NODES = Tunable("maxGpuNodes", {"type": "integer"}, 8)


@rule("gpu-node-budget", "GPU node groups stay within the GPU budget (cost).",
      COST, Severity.LOW, "Lower maxSize or raise maxGpuNodes after a cost review.",
      tunables=[MAX_GPU_NODES])
def gpu_budget(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_GROUP or get(args.props, "amiType") not in gpu.ALL_NVIDIA_AMI_TYPES:
        return
    budget = MAX_GPU_NODES.read(args)
    maximum = get(args.props, "scalingConfig.maxSize", 0) or 0
    if maximum > budget:
        report(message(
            f"A GPU node group may scale to {maximum:.0f} nodes, above the budget of {budget}.",
            "a runaway job could run up a large GPU bill before anyone notices.",
            f"lower maxSize to {budget} or raise the pack's maxGpuNodes after a cost review.",
        ))


@rule("node-role-least-privilege", "The node role carries no S3 or *FullAccess policy.",
      SECURITY, Severity.HIGH, "Detach it; give workloads IRSA roles.", stack=True)
def node_role_least_privilege(args: StackValidationArgs, report: ReportViolation) -> None:
    node_roles = {get(g.props, "nodeRoleArn") for g in of_type(args.resources, (NODE_GROUP,))} - {None}
    names = {get(r.props, "name"): r for r in of_type(args.resources, (ROLE,)) if get(r.props, "arn") in node_roles}
    for attachment in of_type(args.resources, (ATTACHMENT,)):
        role = names.get(get(attachment.props, "role")) if get(attachment.props, "role") else None
        policy = str(get(attachment.props, "policyArn", ""))
        if role and ("S3" in policy or policy.endswith("FullAccess")):
            report(
                message(
                    f"The node role {role.name} carries {policy}.",
                    "every pod on every node would inherit that access; workloads must use their own IRSA roles.",
                    "detach it from the node role and grant the workload an IRSA role scoped to its prefixes.",
                ),
                attachment.urn,
            )


@rule("nodes-no-ssh", "Node groups allow no SSH (no remoteAccess): nodes are reached through SSM or not at all.",
      SECURITY, Severity.HIGH, "Remove remote_access from the node group.")
def no_ssh(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_GROUP:
        return
    access = get(args.props, "remoteAccess") or {}
    if access.get("ec2SshKey") or access.get("sourceSecurityGroupIds"):
        sources = access.get("sourceSecurityGroupIds") or ["0.0.0.0/0 (no source security group: port 22 is open to every address)"]
        report(message(
            f"Node group {get(args.props, 'nodeGroupName') or get(args.props, 'nodeGroupNamePrefix') or args.name} accepts SSH "
            f"with key {access.get('ec2SshKey')} from {', '.join(sources)}.",
            "whoever holds the key (or reaches port 22) is root on a node: every pod's secrets and the node role's credentials.",
            "remove remote_access; reach a node with SSM Session Manager (the AmazonSSMManagedInstanceCore policy) if you must.",
        ))


SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"


def _depends_on(resource: PolicyResource, prop: str, types: tuple[str, ...] | None = None) -> list[PolicyResource]:
    """The resources an input property of ``resource`` was built from (the engine's property dependencies)."""
    found = (getattr(resource, "property_dependencies", None) or {}).get(prop) or []
    return [r for r in found if types is None or r.resource_type in types]


def _to_internet(route: dict, via_gateway: bool) -> bool:
    """A default route (IPv4 or IPv6) through an internet gateway."""
    default = route.get("cidrBlock") == "0.0.0.0/0" or route.get("ipv6CidrBlock") == "::/0"
    return default and (str(route.get("gatewayId") or "").startswith("igw-") or via_gateway)


def public_subnets(resources: list[PolicyResource]) -> set[str]:
    """The URNs of the stack's public subnets: routed to an internet gateway, mapping public IPs, or tagged for
    internet-facing load balancers."""
    internet_tables = {
        table.urn for table in of_type(resources, (ROUTE_TABLE,))
        if any(_to_internet(r, bool(_depends_on(table, "routes", (INTERNET_GATEWAY,)))) for r in get(table.props, "routes", []) or [])
    }
    for route in of_type(resources, (ROUTE,)):
        if _to_internet(dict(route.props), bool(_depends_on(route, "gatewayId", (INTERNET_GATEWAY,)))):
            internet_tables |= {t.urn for t in _depends_on(route, "routeTableId")}
    public = {
        subnet.urn for subnet in of_type(resources, (SUBNET,))
        if get(subnet.props, "mapPublicIpOnLaunch") is True or (get(subnet.props, "tags") or {}).get("kubernetes.io/role/elb") == "1"
    }
    for association in of_type(resources, (ROUTE_TABLE_ASSOCIATION,)):
        if any(t.urn in internet_tables for t in _depends_on(association, "routeTableId")):
            public |= {s.urn for s in _depends_on(association, "subnetId")}
    return public


@rule("nodes-private-subnets-only", "Node groups launch only in private subnets (no route to an internet gateway, no public IPs).",
      SECURITY, Severity.HIGH, "Give node groups the network's private subnet ids only.", stack=True)
def private_subnets_only(args: StackValidationArgs, report: ReportViolation) -> None:
    # Subnets the stack does not declare (existingPrivateSubnetIds) are the config's to check: nothing here to join.
    public = public_subnets(args.resources)
    for group in of_type(args.resources, (NODE_GROUP,)):
        exposed = sorted(s.name for s in _depends_on(group, "subnetIds", (SUBNET,)) if s.urn in public)
        if exposed:
            report(message(
                f"Node group {group.name} launches nodes in public subnets {exposed}.",
                "its nodes sit next to the internet gateway: one public IP or one open security group rule exposes the kubelet and every pod.",
                "pass the network's private_subnet_ids to the node group (load balancers alone belong in the public subnets).",
            ), group.urn)


# The label the autoscaler and the load balancer controller select their nodes by: {"mlplatform.io/role": "system"}.
(ROLE_LABEL, SYSTEM_ROLE), = SYSTEM_NODES.items()
MIN_PROD_SYSTEM_NODES = Tunable("minProdSystemNodes", {"type": "integer"}, 2)


def _per_environment_gaps(groups: list[PolicyResource], prod: bool, minimum: int) -> list[str]:
    def role(group: PolicyResource) -> str:
        return str((get(group.props, "labels") or {}).get(ROLE_LABEL, ""))

    system = [g for g in groups if role(g) == SYSTEM_ROLE]
    gaps = [f"system group {g.name} runs on SPOT" for g in system if get(g.props, "capacityType") == "SPOT"]
    if not [g for g in system if get(g.props, "capacityType") != "SPOT"]:
        gaps.append("no ON_DEMAND node group is labelled mlplatform.io/role=system")
    if prod:
        floor = sum(int(get(g.props, "scalingConfig.minSize", 0) or 0) for g in system if get(g.props, "capacityType") != "SPOT")
        if floor < minimum:
            gaps.append(f"prod's ON_DEMAND system groups keep {floor} nodes at least, fewer than {minimum}")
        gpu_groups = [g for g in groups if role(g) == "gpu"]
        if gpu_groups and all(get(g.props, "capacityType") == "SPOT" for g in gpu_groups):
            gaps.append("prod's GPU groups are all SPOT")
    return gaps


@rule("node-groups-per-environment", "Every environment keeps an ON_DEMAND system group; prod keeps at least minProdSystemNodes "
      "system nodes and an ON_DEMAND GPU group beside its spot ones.",
      COST, Severity.MEDIUM, "Match the stack's nodeGroups to its environment's layout (the committed stack files).",
      tunables=[MIN_PROD_SYSTEM_NODES], stack=True)
def node_groups_per_environment(args: StackValidationArgs, report: ReportViolation) -> None:
    groups = of_type(args.resources, (NODE_GROUP,))
    if not groups:
        return
    prod = any(resource_environment(g) == "prod" for g in groups)
    gaps = _per_environment_gaps(groups, prod, MIN_PROD_SYSTEM_NODES.read(args))
    if gaps:
        report(message(
            f"The {'prod ' if prod else ''}node groups do not follow the environment's layout: {'; '.join(gaps)}.",
            "the autoscaler, the load balancer controller and CoreDNS run on the system nodes: on spot, or on one node in prod, "
            "a reclaim or a zone outage stops scaling and serving; spot-only GPUs in prod can vanish together.",
            "keep an ON_DEMAND system group (minSize >= minProdSystemNodes in prod) and, in prod, an ON_DEMAND GPU group.",
        ), groups[0].urn)
