"""MLflow's backend database in the cluster (local and dev stacks): one Postgres StatefulSet, restricted."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import versions
from infra.flows import POSTGRES_PODS, POSTGRES_PORT
from infra.workload_security import container_security, pod_security

DATABASE = "mlflow"
USERNAME = "mlflow"


class ClusterPostgres(pulumi.ComponentResource):
    """Postgres with a generated password, a PVC per replica and a ClusterIP service."""

    host: str
    password: pulumi.Output[str]

    def __init__(self, name: str, namespace: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:ClusterPostgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-password", length=40, special=False, opts=child)
        k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata={"name": "postgres-credentials", "namespace": namespace},
            string_data={"username": USERNAME, "password": password.result, "database": DATABASE},
            opts=child,
        )
        labels = {**POSTGRES_PODS, "app.kubernetes.io/part-of": "mlplatform"}
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "postgres", "namespace": namespace, "labels": labels},
            spec={"type": "ClusterIP", "selector": POSTGRES_PODS, "ports": [{"name": "postgres", "port": POSTGRES_PORT}]},
            opts=child,
        )
        secret_env = [
            {"name": env, "valueFrom": {"secretKeyRef": {"name": "postgres-credentials", "key": key}}}
            for env, key in (("POSTGRES_USER", "username"), ("POSTGRES_PASSWORD", "password"), ("POSTGRES_DB", "database"))
        ]
        k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata={"name": "postgres", "namespace": namespace, "labels": labels},
            spec={
                "serviceName": "postgres",
                "replicas": 1,
                "selector": {"matchLabels": POSTGRES_PODS},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(uid=999),
                        "containers": [
                            {
                                "name": "postgres",
                                "image": versions.IMAGES["postgres"],
                                "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
                                "env": [*secret_env, {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
                                "securityContext": container_security(),
                                "resources": {
                                    "requests": {"cpu": "250m", "memory": "512Mi"},
                                    "limits": {"cpu": "1", "memory": "1Gi"},
                                },
                                "readinessProbe": {"exec": {"command": ["pg_isready", "-U", USERNAME]}, "periodSeconds": 10},
                                "livenessProbe": {"exec": {"command": ["pg_isready", "-U", USERNAME]}, "periodSeconds": 30},
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                    {"name": "run", "mountPath": "/var/run/postgresql"},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                            }
                        ],
                        "volumes": [{"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}},
                    }
                ],
            },
            opts=child,
        )
        self.host = f"postgres.{namespace}.svc.cluster.local"
        self.password = pulumi.Output.secret(password.result)
        self.register_outputs({"host": self.host})
