"""An EKS managed node group with its launch template (IMDSv2, encrypted disks, no SSH)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.config import GPU_NODE_LABEL, GPU_TAINT, NodeGroupSettings


def root_device(ami_type: str) -> str:
    """Bottlerocket keeps container data on its second volume; AL2023 on the root volume."""
    return "/dev/xvdb" if ami_type.startswith("BOTTLEROCKET") else "/dev/xvda"


def node_labels(group: NodeGroupSettings) -> dict[str, str]:
    """Labels the scheduler and the NVIDIA device plugin select on."""
    labels = {"mlplatform.io/role": group.role, "mlplatform.io/node-group": group.name, **group.labels}
    if group.is_gpu:
        labels[GPU_NODE_LABEL[0]] = GPU_NODE_LABEL[1]
    return labels


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
            taints=[aws.eks.NodeGroupTaintArgs(**GPU_TAINT)] if group.is_gpu else None,
            tags={
                "k8s.io/cluster-autoscaler/enabled": "true",
                "mlplatform.io/node-group": group.name,
            },
            # The cluster autoscaler owns the desired size once the group exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )
        self.name = node_group.node_group_name
        self.register_outputs({"name": self.name})
