"""The platform's namespaces and their Pod Security level: the one table of exceptions.

Every namespace enforces the "restricted" profile unless this table says
otherwise and why; every namespace audits and warns at "restricted", so any
exception stays visible. Nothing runs in ``default``.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import Settings


@dataclass(frozen=True)
class NamespaceSpec:
    """A namespace, its enforced Pod Security level and, for an exception, the reason."""

    name: str
    enforce: str = "restricted"
    reason: str = ""
    # Team namespaces, where pipelines and models run, get a ResourceQuota and a LimitRange.
    team: bool = False
    # Namespaces where operators create pods at run time that no rendered manifest bounds (the
    # Prometheus operator's StatefulSets) get the LimitRange's container defaults too.
    runtime_pods: bool = False

    @property
    def container_defaults(self) -> bool:
        """Whether the namespace gets a LimitRange (defaults for containers that set no resources)."""
        return self.team or self.runtime_pods


MLFLOW = NamespaceSpec("mlflow")
KUBEFLOW = NamespaceSpec(
    "kubeflow",
    enforce="baseline",
    reason="pipeline runs' pods are made at run time by KFP's drivers, outside these manifests: KFP 2.17.0 makes only "
    "Argo's executor (init, wait) containers restricted, and its drivers and the steps' main containers get no "
    "security context (KFP's own deployments here are restricted)",
    team=True,
)
MODELS = NamespaceSpec("models", team=True)
CERT_MANAGER = NamespaceSpec("cert-manager")
# KServe v0.20.0's chart runs its controller with RuntimeDefault seccomp and as non-root: restricted.
KSERVE = NamespaceSpec("kserve")
MINIO = NamespaceSpec("minio")
POSTGRES = NamespaceSpec("postgres")
MONITORING = NamespaceSpec(
    "monitoring", enforce="privileged",
    reason="node-exporter needs the host's network, PID namespace and /proc, /sys; on GPU stacks NVIDIA's DCGM exporter reads "
    "the kubelet's pod-resources socket (a hostPath)",
    runtime_pods=True,
)
# Argo CD's chart runs every pod restricted (non-root, no privilege escalation, RuntimeDefault seccomp).
ARGOCD = NamespaceSpec("argocd")
# AWS stacks: the External Secrets Operator (its chart runs every container restricted).
EXTERNAL_SECRETS = NamespaceSpec("external-secrets")
# The sign-in option's oauth2-proxies (chart defaults: non-root, read-only, no capabilities, RuntimeDefault seccomp).
SSO = NamespaceSpec("sso")
# The feature store's online feature server (Feast): a platform service many models' transformers call, with its own
# identity (IRSA to the online store's table) and its own flows; restricted (the chart's pod runs as the image's non-root user).
FEAST = NamespaceSpec("feast")
NVIDIA = NamespaceSpec(
    "nvidia-device-plugin",
    enforce="privileged",
    reason="the device plugin registers GPUs through a hostPath socket in /var/lib/kubelet/device-plugins",
)


# Kubernetes' own namespaces: never a peer the models admit.
SYSTEM = ("kube-system", "kube-public", "kube-node-lease", "default")
ALL = (MLFLOW, KUBEFLOW, MODELS, CERT_MANAGER, KSERVE, MINIO, POSTGRES, MONITORING, ARGOCD, EXTERNAL_SECRETS, SSO, FEAST, NVIDIA)
# Names the models' ingress gateway may not live in (its every pod is admitted to the models): Kubernetes' own and
# the platform's. The config refuses them as gatewayNamespace and the pack refuses them in the serving chart's values.
RESERVED = frozenset({*SYSTEM, *(spec.name for spec in ALL)})


def for_stack(settings: Settings) -> list[NamespaceSpec]:
    """The namespaces this stack creates."""
    namespaces = [MLFLOW, KUBEFLOW, MODELS, CERT_MANAGER, KSERVE, FEAST]
    if settings.object_store == "minio":
        namespaces.append(MINIO)
    if settings.database.kind == "in-cluster":
        namespaces.append(POSTGRES)
    if settings.monitoring:
        namespaces.append(MONITORING)
    if settings.gitops.mode == "argocd":
        namespaces.append(ARGOCD)
    if settings.is_aws:
        namespaces.append(EXTERNAL_SECRETS)
    if settings.sso.enabled:
        namespaces.append(SSO)
    if settings.is_aws and settings.cluster.enable_gpu_nodes and any(g.is_gpu for g in settings.enabled_node_groups):
        namespaces.append(NVIDIA)
    return namespaces
