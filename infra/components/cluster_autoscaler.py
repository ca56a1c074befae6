"""The Cluster Autoscaler (pinned chart, IRSA): grows the node groups that scale from zero.

GPU and spot groups start empty; without an autoscaler a pending model or pipeline step
would wait forever. It discovers the cluster's managed node groups by their ASG tags and
reads each empty group's node template from the tags ``NodeGroup`` adds
(``autoscaler_template_tags``): labels, the GPU taint and ``nvidia.com/gpu``.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra import versions
from infra.components.pinned_release import pinned_release
from infra.placement import SYSTEM_NODES
from infra.workload_security import container_security, pod_security
from infra.workloads import CLUSTER_AUTOSCALER


def chart_values(cluster_name: str, region: str, role_arn: str) -> dict[str, Any]:
    """The cluster-autoscaler chart's values for one EKS cluster."""
    (service_account,) = CLUSTER_AUTOSCALER.service_accounts
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "rbac": {"serviceAccount": {"name": service_account, "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "extraArgs": {
            # Spread scale-ups across the zones' equivalent groups; pick the group that wastes least.
            "balance-similar-node-groups": True,
            "expander": "least-waste",
            # Node-local scratch (emptyDir) must not pin an idle GPU node forever.
            "skip-nodes-with-local-storage": False,
        },
        "nodeSelector": SYSTEM_NODES,
        "securityContext": pod_security(65534),
        "containerSecurityContext": container_security(),
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"cpu": "500m", "memory": "600Mi"}},
    }


class ClusterAutoscaler(pulumi.ComponentResource):
    """The autoscaler in kube-system, on the system nodes."""

    def __init__(
        self,
        name: str,
        cluster_name: pulumi.Input[str],
        region: str,
        role_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:k8s:ClusterAutoscaler", name, None, opts)
        pinned_release(
            name, versions.CLUSTER_AUTOSCALER, CLUSTER_AUTOSCALER.namespace,
            pulumi.Output.all(cluster_name, role_arn).apply(lambda args: chart_values(args[0], region, args[1])),
            parent=self, release_name="cluster-autoscaler",
        )
        self.register_outputs({})
