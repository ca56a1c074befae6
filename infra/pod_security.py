"""The Kubernetes "restricted" Pod Security Standard as a function.

Used as the authority for pods that generic scanners cannot see into (the
predictor of a KServe InferenceService) and for every workload the platform
declares itself. Follows the restricted profile of Kubernetes 1.35: all of the
baseline controls plus the restricted ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def pod_spec_of(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod spec an object will run, or None for objects that run no pod.

    For an InferenceService, the predictor's inline pod fields with its ``model``
    container added to ``containers`` (as KServe merges them).
    """
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return dict(spec)
    if kind in WORKLOAD_KINDS:
        return dict(spec.get("template", {}).get("spec", {}))
    if kind == "CronJob":
        return dict(spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {}))
    if kind == "InferenceService":
        predictor = dict(spec.get("predictor", {}))
        model = predictor.pop("model", None)
        containers = list(predictor.get("containers", []))
        if model:
            containers.insert(0, {"name": "kserve-container", **model})
        predictor["containers"] = containers
        return predictor
    return None


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name', '?')}]", container


BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
     "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)


def baseline_violations(spec: Mapping[str, Any]) -> list[str]:
    """Every way ``spec`` (a pod spec) breaks the baseline profile; empty when it complies."""
    problems: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field} is true (host namespaces are forbidden)")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            problems.append(f"volume {volume.get('name')} is a hostPath")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')} is not in the safe set")
    if (pod_sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append("pod seccompProfile is Unconfined")
    if (pod_sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        problems.append("pod appArmorProfile is Unconfined")
    for where, container in _containers(spec):
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{where}: privileged")
        added = set((sc.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            problems.append(f"{where}: adds capabilities {sorted(added)} beyond the baseline set")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{where}: seccompProfile is Unconfined")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{where}: appArmorProfile is Unconfined")
        if sc.get("procMount") not in (None, "Default"):
            problems.append(f"{where}: procMount is {sc.get('procMount')}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{where}: hostPort {port['hostPort']}")
        se_linux = sc.get("seLinuxOptions") or {}
        if se_linux.get("user") or se_linux.get("role"):
            problems.append(f"{where}: sets seLinuxOptions user or role")
    return problems


def violations(spec: Mapping[str, Any], level: str) -> list[str]:
    """Every way ``spec`` breaks the Pod Security ``level`` (privileged, baseline or restricted)."""
    if level == "privileged":
        return []
    if level == "baseline":
        return baseline_violations(spec)
    if level == "restricted":
        return restricted_violations(spec)
    raise ValueError(f"unknown Pod Security level {level!r}")


def restricted_violations(spec: Mapping[str, Any]) -> list[str]:
    """Every way ``spec`` (a pod spec) breaks the restricted profile: baseline's rules and restricted's own."""
    problems = baseline_violations(spec)
    pod_sc = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        types = set(volume) - {"name"}
        if "hostPath" not in types and not types <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume.get('name')} has type {sorted(types)}, not allowed by restricted")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod securityContext.runAsUser is 0 (root)")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    containers = list(_containers(spec))
    if not containers:
        problems.append("the pod has no containers")
    for where, container in containers:
        sc = container.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            problems.append(f"{where}: runAsNonRoot is not true (in the container or the pod)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser is 0 (root)")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost", "Unconfined"):  # Unconfined: reported by baseline
            problems.append(f"{where}: seccompProfile is {seccomp or 'unset'} (needs RuntimeDefault or Localhost)")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}: capabilities do not drop ALL")
        # Capabilities beyond the baseline set are reported by baseline; restricted allows only NET_BIND_SERVICE.
        extra = set(capabilities.get("add") or []) & (BASELINE_CAPABILITIES - {"NET_BIND_SERVICE"})
        if extra:
            problems.append(f"{where}: adds capabilities {sorted(extra)} (restricted allows only NET_BIND_SERVICE)")
    return problems
