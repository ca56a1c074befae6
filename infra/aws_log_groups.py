"""The CloudWatch log groups AWS services write to, named as each service names them.

A service creates its group on first write when it is missing: encrypted with CloudWatch's own
key and kept forever. The program declares each one first (its key, its retention); the policy
pack checks that every group a service of the stack will write to is declared.
"""

from __future__ import annotations


def eks_cluster(cluster_name: str, log: str = "") -> str:
    """A cluster's log group named ``log``; with no log, the prefix of all of the cluster's groups."""
    return f"/aws/eks/{cluster_name}/{log}"


def eks_control_plane(cluster_name: str) -> str:
    """Where EKS sends the control plane's logs (every log type)."""
    return eks_cluster(cluster_name, "cluster")


def rds_instance(identifier: str, log: str = "") -> str:
    """Where RDS exports one of an instance's logs (``postgresql``, ``upgrade``, ...); with no log, the
    prefix of all of the instance's groups."""
    return f"/aws/rds/instance/{identifier}/{log}"
