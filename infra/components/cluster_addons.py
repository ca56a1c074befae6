"""EKS managed add-ons: vpc-cni (with NetworkPolicy enforcement), kube-proxy,
eks-pod-identity-agent, coredns, the EBS CSI driver and metrics-server (the community
add-on: the resource metrics API that HPA-based model autoscaling and `kubectl top` read).

Each add-on runs the version EKS names as the default for the cluster's
Kubernetes version (resolved at preview, so a change shows up in the diff).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

# Without enableNetworkPolicy the VPC CNI does not enforce NetworkPolicies at all,
# and every default-deny policy of the cluster layer would be decorative.
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}
# Needed before nodes can join (networking) and after nodes exist (they run pods).
BEFORE_NODES = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
AFTER_NODES = ("coredns", "aws-ebs-csi-driver", "metrics-server")


class ClusterAddons(pulumi.ComponentResource):
    """The managed add-ons, in the order nodes need them."""

    def __init__(
        self,
        name: str,
        cluster_name: pulumi.Input[str],
        kubernetes_version: pulumi.Input[str],
        ebs_csi_role_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:aws:ClusterAddons", name, None, opts)
        self._name = name
        self._cluster_name = cluster_name
        self._kubernetes_version = kubernetes_version
        self._ebs_csi_role_arn = ebs_csi_role_arn
        self.networking = [self._addon(addon, []) for addon in BEFORE_NODES]
        self.register_outputs({})

    def after_nodes(self, node_groups: Sequence[pulumi.Resource]) -> list[aws.eks.Addon]:
        """Declare the add-ons whose pods need nodes to schedule on."""
        return [self._addon(addon, node_groups) for addon in AFTER_NODES]

    def _addon(self, addon: str, depends_on: Sequence[pulumi.Resource]) -> aws.eks.Addon:
        version = aws.eks.get_addon_version_output(
            addon_name=addon,
            kubernetes_version=self._kubernetes_version,
            most_recent=False,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        return aws.eks.Addon(
            f"{self._name}-{addon}",
            cluster_name=self._cluster_name,
            addon_name=addon,
            addon_version=version.version,
            configuration_values=json.dumps(VPC_CNI_CONFIGURATION) if addon == "vpc-cni" else None,
            service_account_role_arn=self._ebs_csi_role_arn if addon == "aws-ebs-csi-driver" else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
