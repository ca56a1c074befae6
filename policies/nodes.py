"""Node group rules: IMDSv2, encrypted volumes, the GPU taint, spot diversity, the GPU budget, the node role.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from infra import gpu
from policies.helpers import (
    COST,
    SECURITY,
    Tunable,
    get,
    message,
    of_type,
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
