"""The restricted security contexts every workload the platform declares itself runs with, and the restricted
one-shot Job (its pod and container) the platform's Jobs and backups are built from."""

from __future__ import annotations

import copy
from typing import Any


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


# A one-shot Job's container: a client call or a small script (the pipeline upload, the Feast database's SQL).
ONE_SHOT_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def restricted_container(name: str, image: str, resources: dict | None = None, **spec: Any) -> dict:
    """A container with the restricted context and its ``resources`` (default: a one-shot Job's); ``spec``: the rest
    (command, env, volumeMounts, ...)."""
    return {"name": name, "image": image, **spec, "securityContext": container_security(),
            "resources": copy.deepcopy(ONE_SHOT_RESOURCES if resources is None else resources)}


def restricted_pod(containers: list[dict], volumes: list[dict], uid: int = 10001, restart_policy: str = "OnFailure",
                   **spec: Any) -> dict:
    """A pod of a Job that calls no Kubernetes API (no service account token mounted), as ``uid`` with the restricted
    pod context; ``spec``: the rest (serviceAccountName, initContainers, ...)."""
    return {
        "restartPolicy": restart_policy,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(uid),
        **spec,
        "containers": containers,
        "volumes": volumes,
    }


def restricted_job(labels: dict, container: dict, volumes: list[dict], backoff_limit: int = 6, uid: int = 10001) -> dict:
    """A one-shot Job's spec: one container (see :func:`restricted_container`) in a :func:`restricted_pod` labelled
    ``labels``, retried on failure up to ``backoff_limit`` times."""
    return {
        "backoffLimit": backoff_limit,
        "template": {"metadata": {"labels": labels}, "spec": restricted_pod([container], volumes, uid=uid)},
    }
