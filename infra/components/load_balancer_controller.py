"""The AWS Load Balancer Controller (pinned chart, IRSA): the ALBs in front of models.

KServe creates an Ingress of class ``alb`` for each InferenceService (its ingress config,
infra/components/kserve.py) and copies the InferenceService's annotations onto it; the serving
chart writes the ALB's (scheme, TLS certificate, target type ip, health check). This
controller turns those Ingresses into ALBs in the subnets tagged for them
(infra/components/network.py: ``kubernetes.io/role/internal-elb`` and ``.../elb``).
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra import versions
from infra.components.pinned_release import pinned_release
from infra.placement import SYSTEM_NODES, Placement
from infra.workloads import LOAD_BALANCER_CONTROLLER

INGRESS_CLASS = "alb"


def chart_values(cluster_name: str, region: str, vpc_id: str, role_arn: str) -> dict[str, Any]:
    """The aws-load-balancer-controller chart's values for one EKS cluster."""
    (service_account,) = LOAD_BALANCER_CONTROLLER.service_accounts
    return {
        "clusterName": cluster_name,
        # Given, not discovered: the pods cannot reach the instance metadata service (IMDSv2, hop limit 1).
        "region": region,
        "vpcId": vpc_id,
        "serviceAccount": {"create": True, "name": service_account, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        "ingressClass": INGRESS_CLASS,
        "createIngressClassResource": True,
        # Pod IPs as targets (the VPC CNI): the ALB reaches the model pods directly, so the models'
        # NetworkPolicy can admit exactly the load balancer's subnets.
        "defaultTargetType": "ip",
        "defaultLoadBalancerScheme": "internal",
        # The platform makes ALBs from Ingresses, never NLBs from Services. Left on, the chart's Service
        # webhook (mservice.elbv2.k8s.aws, failurePolicy Fail) matches every Service of the cluster and
        # refuses them all until the controller's pods are ready: every other release of the first
        # `pulumi up` fails (kubernetes-sigs/aws-load-balancer-controller#4140, aws/eks-charts#1058).
        "enableServiceMutatorWebhook": False,
        # No WAF or Shield on the platform's load balancers: the controller then never calls those APIs,
        # which have no endpoint in the VPC (network.INTERFACE_ENDPOINTS).
        "enableShield": False,
        "enableWaf": False,
        "enableWafv2": False,
        "replicaCount": 2,
        "podDisruptionBudget": {"maxUnavailable": 1},
        "nodeSelector": SYSTEM_NODES,
        # Its webhooks fail closed: the two replicas in two zones (the chart's own anti-affinity spreads hosts).
        "topologySpreadConstraints": Placement(pinned=True).spread({"app.kubernetes.io/name": "aws-load-balancer-controller"}),
        "podSecurityContext": {"fsGroup": 65534, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {
            "readOnlyRootFilesystem": True, "runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
    }


class LoadBalancerController(pulumi.ComponentResource):
    """The controller in kube-system, on the system nodes."""

    def __init__(
        self,
        name: str,
        cluster_name: pulumi.Input[str],
        region: str,
        vpc_id: pulumi.Input[str],
        role_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:k8s:LoadBalancerController", name, None, opts)
        values = pulumi.Output.all(cluster_name, vpc_id, role_arn).apply(lambda args: chart_values(args[0], region, args[1], args[2]))
        pinned_release(
            name, versions.AWS_LOAD_BALANCER_CONTROLLER, LOAD_BALANCER_CONTROLLER.namespace, values,
            parent=self, release_name="aws-load-balancer-controller",
        )
        self.register_outputs({})
