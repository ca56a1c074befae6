"""The EKS control plane: IAM roles, secrets encryption, logging, access entries, OIDC.

The node role is created here too because every node group shares it and the
cluster's access configuration has to know it.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra import aws_log_groups
from infra.components import encryption_key
from infra.components.encryption_key import EncryptionKey
from infra.config import ClusterSettings

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Reads every object, Secrets included (Helm keeps releases in Secrets): what `pulumi preview` needs, no writes.
ADMIN_VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"
CLUSTER_ROLE_POLICIES = ("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",)
# Nodes get only what the kubelet, the CNI and image pulls need. Workloads
# reach S3 through their own IRSA roles, never through the node role.
NODE_ROLE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)


def service_trust(service: str) -> str:
    """Trust policy that lets an AWS service assume a role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": ["sts:AssumeRole", "sts:TagSession"]}],
        }
    )


class EksCluster(pulumi.ComponentResource):
    """An EKS cluster with private endpoint, encrypted secrets, all log types and IRSA."""

    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    version: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cluster_settings: ClusterSettings,
        cluster_name: str,
        region: str,
        protect: bool,
        private_subnet_ids: list[pulumi.Output[str]],
        account_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:aws:EksCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        cluster_role = aws.iam.Role(f"{name}-cluster", assume_role_policy=service_trust("eks.amazonaws.com"), opts=child)
        for index, policy_arn in enumerate(CLUSTER_ROLE_POLICIES):
            aws.iam.RolePolicyAttachment(f"{name}-cluster-{index}", role=cluster_role.name, policy_arn=policy_arn, opts=child)
        node_role = aws.iam.Role(f"{name}-node", assume_role_policy=service_trust("ec2.amazonaws.com"), opts=child)
        node_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{index}", role=node_role.name, policy_arn=policy_arn, opts=child)
            for index, policy_arn in enumerate(NODE_ROLE_POLICIES)
        ]

        secrets_key = EncryptionKey(f"{name}-secrets", f"EKS secrets envelope encryption for {name}", protect, child)
        # Created before the cluster so EKS does not create it without retention, and encrypted with a key
        # of the platform's that CloudWatch Logs may use for this stack's EKS log groups only.
        log_group_name = aws_log_groups.eks_control_plane(cluster_name)
        logs_key = encryption_key.logs_key(name, protect, child, account_id, region, aws_log_groups.eks_cluster(cluster_name))
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=log_group_name,
            retention_in_days=cluster_settings.log_retention_days,
            kms_key_id=logs_key.arn,
            opts=child,
        )

        cluster = aws.eks.Cluster(
            name,
            name=cluster_name,
            version=cluster_settings.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=cluster_settings.endpoint_public_access,
                public_access_cidrs=list(cluster_settings.public_access_cidrs) if cluster_settings.endpoint_public_access else None,
            ),
            # Set, not left to EKS's choice: the NetworkPolicies admit the `kubernetes` Service's address
            # (its first address) by value (infra/flows.py apiserver_cidrs).
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(service_ipv4_cidr=cluster_settings.service_cidr),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            # Add-ons are managed below as EKS add-ons, not self-managed manifests.
            bootstrap_self_managed_addons=False,
            # Refuse silent moves to (paid) extended support.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=protect,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[log_group, *node_policies], protect=protect
            ),
        )

        # Access comes from config only (clusterAdminArns, ciDeployRoleArn, ciPreviewRoleArn), never from whoever
        # runs pulumi: a preview by the CI's read-only role and a deploy after a person's change nothing.
        principals = [(f"admin-{index}", arn, CLUSTER_ADMIN_POLICY) for index, arn in enumerate(cluster_settings.cluster_admin_arns)]
        if cluster_settings.ci_deploy_role_arn:
            principals.append(("ci-deploy", cluster_settings.ci_deploy_role_arn, CLUSTER_ADMIN_POLICY))
        if cluster_settings.ci_preview_role_arn:
            principals.append(("ci-preview", cluster_settings.ci_preview_role_arn, ADMIN_VIEW_POLICY))
        # What the Kubernetes provider waits for: whoever deploys can reach the API only once these exist.
        self.access: list[pulumi.Resource] = []
        for label, principal, policy in principals:
            entry = aws.eks.AccessEntry(
                f"{name}-{label}", cluster_name=cluster.name, principal_arn=principal, type="STANDARD", opts=child
            )
            association = aws.eks.AccessPolicyAssociation(
                f"{name}-{label}",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=policy,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child,
            )
            self.access += [entry, association]

        issuer = cluster.identities.apply(lambda identities: identities[0].oidcs[0].issuer)
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], opts=child
        )

        self.name = cluster.name
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.apply(lambda ca: ca.data)
        self.version = cluster.version
        self.node_role_arn = node_role.arn
        # The security group EKS creates for the cluster: managed node groups' nodes, and so their pods, carry it.
        self.security_group_id = cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id)
        if cluster_settings.ci_runner_security_group_id:
            # The stack's self-hosted runner (README "CI runners") reaches the private API endpoint, and nothing else new.
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-ci-runner-api",
                security_group_id=self.security_group_id,
                referenced_security_group_id=cluster_settings.ci_runner_security_group_id,
                ip_protocol="tcp", from_port=443, to_port=443,
                description="The CI runner of this stack reaches the cluster's API",
                opts=child,
            )
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer_url = oidc.url.apply(lambda url: url if url.startswith("https://") else f"https://{url}")
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "node_role_arn": self.node_role_arn,
                "oidc_provider_arn": self.oidc_provider_arn,
            }
        )
