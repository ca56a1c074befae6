"""MLflow's pipeline user: its credentials, and the Job that makes MLflow know it once MLflow is up.

The pipeline steps sign in as ``pipelines.mlflow_users.PIPELINE_USERNAME`` (EDIT on the pipelines'
experiments and registered model, nothing else), never as the admin: the Secret they read
(``MLFLOW_CREDENTIALS_SECRET`` in each client namespace) holds that user's password. The Job runs
``python -m pipelines.mlflow_users ensure-pipeline-user`` in MLflow's own image, as the admin (read by
reference from the server's config Secret), through MLflow's auth API. It is idempotent (a user or
grant that exists is kept, a changed password is set) and named by the hash of what it runs, so a
`pulumi up` without a change leaves it alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.credentials import MLFLOW_PIPELINE, Credentials
from infra.flows import MLFLOW_USERS_PODS
from infra.workload_security import restricted_container, restricted_job
from pipelines import mlflow_users
from pipelines.cluster import MLFLOW_CREDENTIALS_ENV, MLFLOW_CREDENTIALS_SECRET

PIPELINES_DIR = Path(mlflow_users.__file__).resolve().parent
# Keys of the MLflow server's config Secret holding the admin's credentials (infra/components/mlflow_server.py).
ADMIN_KEYS = {"username": "admin-username", "password": "admin-password"}
# The pipeline user's credentials in MLflow's namespace, which the Job reads.
PIPELINE_SECRET = "mlflow-pipeline-user"
MOUNT = "/opt/mlplatform"


def job_modules() -> dict[str, str]:
    """The modules the Job imports, by file name (the ConfigMap's keys), read from this checkout."""
    return {module: (PIPELINES_DIR / module).read_text() for module in mlflow_users.JOB_MODULES}


def job_suffix(modules: dict[str, str], url: str) -> str:
    """12 hex of what the Job does: its code and the server it talks to."""
    return hashlib.sha256(json.dumps([modules, url], sort_keys=True).encode()).hexdigest()[:12]


def secret_env(name: str, secret: pulumi.Input[str], key: str) -> dict:
    """An env var read from a Secret by reference."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


class MlflowUsers(pulumi.ComponentResource):
    """The pipeline user's Secrets (MLflow's namespace and each client's) and the Job that creates it and its grants."""

    job_name: str

    def __init__(
        self,
        name: str,
        namespace: str,
        url: str,
        admin_secret: pulumi.Input[str],
        client_namespaces: tuple[str, ...],
        after: Sequence[pulumi.Resource],
        credentials: Credentials,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:k8s:MlflowUsers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The password from the stack's credentials (infra/credentials.py): on AWS synced from Secrets Manager.
        password = credentials.value(MLFLOW_PIPELINE, f"{name}-pipeline-password", child)
        data = dict(zip(MLFLOW_CREDENTIALS_ENV, (mlflow_users.PIPELINE_USERNAME, password), strict=True))
        own = credentials.secret(f"{name}-pipeline", PIPELINE_SECRET, namespace, data, child)
        for client in client_namespaces:
            credentials.secret(f"{name}-credentials-{client}", MLFLOW_CREDENTIALS_SECRET, client, data, child)
        modules = job_modules()
        suffix = job_suffix(modules, url)
        labels = {**MLFLOW_USERS_PODS, "app.kubernetes.io/part-of": "mlplatform"}
        code = k8s.core.v1.ConfigMap(
            f"{name}-code",
            metadata={"name": f"mlflow-users-{suffix}", "namespace": namespace, "labels": labels},
            data=modules,
            opts=child,
        )
        self.job_name = f"mlflow-users-{suffix}"
        k8s.batch.v1.Job(
            f"{name}-job",
            metadata={"name": self.job_name, "namespace": namespace, "labels": labels},
            spec=restricted_job(
                labels,
                restricted_container(
                    "ensure-pipeline-user",
                    # MLflow's own image: its auth client at the server's version.
                    versions.IMAGES["mlflow"],
                    resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                    command=["python", "-m", "pipelines.mlflow_users", "ensure-pipeline-user"],
                    workingDir="/tmp",
                    env=[
                        {"name": "MLFLOW_TRACKING_URI", "value": url},
                        secret_env(MLFLOW_CREDENTIALS_ENV["username"], admin_secret, ADMIN_KEYS["username"]),
                        secret_env(MLFLOW_CREDENTIALS_ENV["password"], admin_secret, ADMIN_KEYS["password"]),
                        secret_env(mlflow_users.PIPELINE_PASSWORD_ENV, PIPELINE_SECRET, "password"),
                        {"name": "PYTHONPATH", "value": MOUNT},
                        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                        {"name": "HOME", "value": "/tmp"},
                    ],
                    volumeMounts=[
                        {"name": "code", "mountPath": f"{MOUNT}/pipelines", "readOnly": True},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                ),
                [
                    {"name": "code", "configMap": {"name": f"mlflow-users-{suffix}"}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                ],
            ),
            # After MLflow is up (its Deployment ready) and the Secrets and code exist.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, own, code]),
        )
        self.register_outputs({"jobName": self.job_name})
