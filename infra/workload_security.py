"""The restricted security contexts every workload the platform declares itself runs with."""

from __future__ import annotations


def pod_security(uid: int = 10001) -> dict:
    """Pod-level: non-root with a fixed UID, RuntimeDefault seccomp."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict:
    """Container-level: no privilege escalation, nothing added, read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
