"""A namespace with Pod Security Admission labels, default-deny NetworkPolicy, DNS egress and (for teams) quotas."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.namespaces import NamespaceSpec

PSA_VERSION = "v1.35"
DNS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
# What a team namespace may use in total; and per container by default, in team namespaces and where operators create pods.
TEAM_QUOTA = {
    "requests.cpu": "40", "requests.memory": "160Gi", "limits.cpu": "80", "limits.memory": "320Gi",
    "requests.nvidia.com/gpu": "8", "pods": "200", "services.loadbalancers": "0", "services.nodeports": "0",
}
CONTAINER_DEFAULTS = {
    "default": {"cpu": "1", "memory": "1Gi"},
    "defaultRequest": {"cpu": "250m", "memory": "256Mi"},
    "max": {"cpu": "16", "memory": "64Gi"},
}


def psa_labels(spec: NamespaceSpec) -> dict[str, str]:
    """Pod Security Admission labels: enforce per the table, audit and warn at restricted everywhere."""
    return {
        "pod-security.kubernetes.io/enforce": spec.enforce,
        "pod-security.kubernetes.io/enforce-version": PSA_VERSION,
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": PSA_VERSION,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": PSA_VERSION,
    }


class PlatformNamespace(pulumi.ComponentResource):
    """One namespace and its baseline policies; everything else in it is allowed explicitly."""

    name: pulumi.Output[str]

    def __init__(self, spec: NamespaceSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:PlatformNamespace", spec.name, None, opts)
        annotations = {"mlplatform.io/pod-security-exception": spec.reason} if spec.reason else {}
        namespace = k8s.core.v1.Namespace(
            spec.name,
            metadata={
                "name": spec.name,
                "labels": {**psa_labels(spec), "app.kubernetes.io/part-of": "mlplatform"},
                "annotations": annotations,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        k8s.networking.v1.NetworkPolicy(
            f"{spec.name}-default-deny",
            metadata={"name": "default-deny", "namespace": spec.name},
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{spec.name}-allow-dns",
            metadata={"name": "allow-dns", "namespace": spec.name},
            spec={
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [DNS_PEER], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}],
            },
            opts=child,
        )
        if spec.team:
            k8s.core.v1.ResourceQuota(
                f"{spec.name}-quota", metadata={"name": "team-quota", "namespace": spec.name}, spec={"hard": TEAM_QUOTA}, opts=child
            )
        if spec.container_defaults:
            k8s.core.v1.LimitRange(
                f"{spec.name}-limits",
                metadata={"name": "container-defaults", "namespace": spec.name},
                spec={"limits": [{"type": "Container", **CONTAINER_DEFAULTS}]},
                opts=child,
            )
        self.name = namespace.metadata.apply(lambda m: m["name"])
        self.register_outputs({"name": self.name})
