"""The Kubernetes provider the cluster layer deploys through.

On AWS stacks it is built from the cluster's outputs with an exec-based token
(``aws eks get-token``), so no credential is stored in the kubeconfig. On the
local stack it uses the current kubeconfig (or the configured context).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.config import Settings


def eks_kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig that fetches a short-lived token with the AWS CLI."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority}}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        }
    )


def for_eks(
    settings: Settings,
    cluster_name: pulumi.Output[str],
    endpoint: pulumi.Output[str],
    certificate_authority: pulumi.Output[str],
    depends_on: Sequence[pulumi.Resource],
) -> tuple[k8s.Provider, pulumi.Output[str]]:
    """Provider for the EKS cluster, ready once the nodes and add-ons are; and its kubeconfig (secret)."""
    kubeconfig = pulumi.Output.secret(
        pulumi.Output.all(cluster_name, endpoint, certificate_authority).apply(
            lambda args: eks_kubeconfig(args[0], args[1], args[2], settings.aws_region)
        )
    )
    provider = k8s.Provider(
        "kubernetes",
        kubeconfig=kubeconfig,
        delete_unreachable=False,
        opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
    )
    return provider, kubeconfig


def for_local(settings: Settings) -> k8s.Provider:
    """Provider for the current kubeconfig (kind, minikube, k3d)."""
    return k8s.Provider("kubernetes", context=settings.cluster.kubeconfig_context or None)
