"""The EKS cluster's settings: version, API endpoint, admins, logs, node group switches and CI access."""

from __future__ import annotations

import re

from pydantic import field_validator

from infra.config.base import PRIVATE_RANGES, Cidrs, Frozen, covers_internet, ipv4_network

# EKS standard support as of 2026-11 (1.33 left standard support in July 2026).
# 1.36 is not admitted until its EKS standard-support date has been checked.
SUPPORTED_KUBERNETES_VERSIONS = ("1.34", "1.35")

# Allowed CloudWatch Logs retention values, in days.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


class ClusterSettings(Frozen):
    """The EKS cluster: version, API endpoint, admins, logs, which node groups run, and who deploys to it."""

    kubernetes_version: str
    endpoint_public_access: bool
    public_access_cidrs: Cidrs
    cluster_admin_arns: tuple[str, ...]
    log_retention_days: int
    kubeconfig_context: str = ""
    enable_gpu_nodes: bool
    enable_spot_nodes: bool
    ci_runner_labels: tuple[str, ...]
    service_cidr: str = "172.20.0.0/16"
    ci_deploy_role_arn: str = ""
    ci_preview_role_arn: str = ""
    ci_runner_security_group_id: str = ""

    @field_validator("service_cidr")
    @classmethod
    def _service_cidr(cls, value: str) -> str:
        network = ipv4_network(value)
        if not 12 <= network.prefixlen <= 24 or not any(network.subnet_of(ipv4_network(r)) for r in PRIVATE_RANGES):
            raise ValueError("EKS takes a /12 to /24 block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        return value

    @property
    def kubernetes_service_address(self) -> str:
        """The ``kubernetes`` Service's ClusterIP: the service CIDR's first address, where pods reach the API server."""
        return str(next(ipv4_network(self.service_cidr).hosts()))

    @field_validator("kubernetes_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        if value not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(f"not in EKS standard support; use one of {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_allowed(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"not a CloudWatch Logs retention; use one of {sorted(LOG_RETENTION_DAYS)}")
        return value

    @field_validator("cluster_admin_arns")
    @classmethod
    def _admin_arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$", arn):
                raise ValueError(f"'{arn}' is not an IAM role or user ARN (arn:aws:iam::123456789012:role/name)")
        return value

    @field_validator("ci_runner_security_group_id")
    @classmethod
    def _runner_group(cls, value: str) -> str:
        if value and not re.match(r"^sg-[0-9a-f]{8,17}$", value):
            raise ValueError("not a security group id (sg- followed by 8 or 17 hex digits), or empty")
        return value

    @field_validator("ci_deploy_role_arn", "ci_preview_role_arn")
    @classmethod
    def _ci_role(cls, value: str) -> str:
        if value and not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$", value):
            raise ValueError(f"'{value}' is not an IAM role ARN (arn:aws:iam::123456789012:role/name), or empty")
        return value

    @property
    def admin_principals(self) -> tuple[str, ...]:
        """Who gets cluster-admin: the people of clusterAdminArns and the deploy workflow's role."""
        return tuple(dict.fromkeys((*self.cluster_admin_arns, *((self.ci_deploy_role_arn,) if self.ci_deploy_role_arn else ()))))

    @field_validator("ci_runner_labels")
    @classmethod
    def _runner_labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for label in value:
            if not re.match(r"^[\w.-]+$", label):
                raise ValueError(f"'{label}' is not a runner label (letters, digits, '.', '_', '-')")
        return value

    @property
    def endpoint_open_to_internet(self) -> bool:
        """Whether the public API endpoint admits every address (CIDR coverage: 0.0.0.0/1 + 128.0.0.0/1 counts)."""
        return self.endpoint_public_access and covers_internet(self.public_access_cidrs)
