"""An EKS managed node group with its launch template (IMDSv2, encrypted disks, no SSH)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra import gpu
from infra.config import NodeGroupSettings


def root_device(ami_type: str) -> str:
    """Bottlerocket keeps container data on its second volume; AL2023 on the root volume."""
    return "/dev/xvdb" if ami_type.startswith("BOTTLEROCKET") else "/dev/xvda"


def node_labels(group: NodeGroupSettings) -> dict[str, str]:
    """Labels the scheduler and the NVIDIA device plugin select on, and the Cluster Autoscaler's GPU label."""
    labels = {gpu.ROLE_LABEL: group.role, "mlplatform.io/node-group": group.name, **group.labels}
    if group.is_gpu:
        labels |= gpu.node_selector() | {gpu.AUTOSCALER_LABEL: gpu.accelerator(group.instance_types)}
    return labels


# EKS spells taint effects NO_SCHEDULE; Kubernetes (and the autoscaler's node template) NoSchedule.
_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def autoscaler_template_tags(group: NodeGroupSettings) -> dict[str, str]:
    """ASG tags that tell the Cluster Autoscaler what a new node of an empty group would look like.

    Scaling from zero needs them: with no node to copy, the autoscaler reads labels, taints and
    extended resources (``nvidia.com/gpu``) from these tags. EKS does not copy a managed node
    group's labels and taints to its Auto Scaling group, so the program tags the group itself.
    """
    tags = {f"{NODE_TEMPLATE}/label/{key}": value for key, value in node_labels(group).items()}
    if group.is_gpu:
        tags[f"{NODE_TEMPLATE}/taint/{gpu.TAINT['key']}"] = f"{gpu.TAINT['value']}:{_TAINT_EFFECTS[gpu.TAINT['effect']]}"
        tags[f"{NODE_TEMPLATE}/resources/{gpu.RESOURCE}"] = str(group.gpus_per_node)
    return dict(sorted(tags.items()))


class NodeGroup(pulumi.ComponentResource):
    """One managed node group; GPU groups are tainted and labelled for the device plugin."""

    name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        group: NodeGroupSettings,
        cluster_name: pulumi.Input[str],
        node_role_arn: pulumi.Input[str],
        subnet_ids: list[pulumi.Output[str]],
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:aws:NodeGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        volume = aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_size=group.disk_size_gi_b,
            volume_type="gp3",
            encrypted="true",
            delete_on_termination="true",
        )
        devices = [aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name=root_device(group.ami_type), ebs=volume)]
        if group.ami_type.startswith("BOTTLEROCKET"):
            devices.insert(
                0,
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=4, volume_type="gp3", encrypted="true", delete_on_termination="true"
                    ),
                ),
            )
        template = aws.ec2.LaunchTemplate(
            name,
            description=f"Node group {group.name}: IMDSv2 only, encrypted volumes",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # 1 hop: pods cannot reach the node's credentials; they use IRSA.
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=devices,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**tags, "Name": name})
                for kind in ("instance", "volume")
            ],
            update_default_version=True,
            opts=child,
        )
        node_group = aws.eks.NodeGroup(
            name,
            cluster_name=cluster_name,
            node_group_name_prefix=f"{group.name}-",
            node_role_arn=node_role_arn,
            subnet_ids=subnet_ids,
            capacity_type=group.capacity_type,
            instance_types=list(group.instance_types),
            ami_type=group.ami_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min_size, max_size=group.max_size, desired_size=group.desired_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
            node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
            labels=node_labels(group),
            taints=[aws.eks.NodeGroupTaintArgs(**gpu.TAINT)] if group.is_gpu else None,
            tags={
                "k8s.io/cluster-autoscaler/enabled": "true",
                "mlplatform.io/node-group": group.name,
            },
            # The cluster autoscaler owns the desired size once the group exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )
        asg_name = node_group.resources.apply(lambda resources: resources[0].autoscaling_groups[0].name)
        for index, (key, value) in enumerate(autoscaler_template_tags(group).items()):
            aws.autoscaling.Tag(
                f"{name}-template-{index}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=child,
            )
        self.name = node_group.node_group_name
        self.register_outputs({"name": self.name})
