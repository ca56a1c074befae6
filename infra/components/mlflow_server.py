"""The MLflow tracking server and model registry: Postgres backend, artifacts in the object store.

Served by a Deployment with probes, resources and a restricted security
context under its IRSA service account, behind a ClusterIP service at a stable
name. It is never exposed outside the cluster by the platform; before anyone
does, turn on ``mlflowBasicAuth`` (MLflow's basic-auth app) or put an OIDC proxy
in front (README).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.components.cluster_postgres import CA_DIR
from infra.components.mlflow_users import ADMIN_KEYS
from infra.credentials import MLFLOW_ADMIN, MLFLOW_FLASK_KEY, Credentials
from infra.flows import MLFLOW_PODS, MLFLOW_PORT
from infra.object_store import ObjectStore
from infra.placement import ANYWHERE, Placement
from infra.workload_security import container_security, pod_security
from infra.workloads import MLFLOW
from pipelines.cluster import MLFLOW_ARTIFACTS_PREFIX, MLFLOW_SERVER_ENV
from pipelines.mlflow_users import ADMIN_USERNAME, auth_config


def allowed_hosts(namespace: str, port: int) -> list[str]:
    """The Host headers MLflow answers (its DNS-rebinding guard): the service's in-cluster names."""
    names = [f"mlflow.{namespace}.svc.cluster.local", f"mlflow.{namespace}.svc", f"mlflow.{namespace}", "mlflow"]
    return [host for name in names for host in (f"{name}:{port}", name)]


class MlflowServer(pulumi.ComponentResource):
    """MLflow at http://mlflow.<namespace>.svc.cluster.local:5000."""

    url: str
    # The Secret with its config (and, with basic auth, the admin's credentials).
    config_secret: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        namespace: str,
        database_uri: pulumi.Input[str],
        store: ObjectStore,
        database_ca_config_map: pulumi.Input[str] | None,
        role_arn: pulumi.Input[str] | None,
        basic_auth: bool,
        credentials: Credentials,
        opts: pulumi.ResourceOptions | None = None,
        placement: Placement = ANYWHERE,
    ) -> None:
        super().__init__("mlplatform:k8s:MlflowServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**MLFLOW_PODS, "app.kubernetes.io/part-of": "mlplatform"}
        (service_account_name,) = MLFLOW.service_accounts
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={
                "name": service_account_name,
                "namespace": namespace,
                "labels": labels,
                "annotations": {"eks.amazonaws.com/role-arn": role_arn} if role_arn else {},
            },
            automount_service_account_token=False,
            opts=child,
        )
        secret_data: dict[str, pulumi.Input[str]] = {"backend-store-uri": database_uri}
        # The Secrets' values come from the stack's credentials (infra/credentials.py): on AWS synced from Secrets Manager.
        if basic_auth:
            admin = credentials.value(MLFLOW_ADMIN, f"{name}-admin-password", child)
            # The basic-auth app signs its CSRF tokens with this key and refuses to start without it.
            secret_data["flask-secret-key"] = credentials.value(MLFLOW_FLASK_KEY, f"{name}-flask-secret-key", child)
            # The admin's credentials also on their own, for the Job that manages MLflow's users
            # (components/mlflow_users.py); the pipelines sign in as their own user, never as the admin.
            secret_data[ADMIN_KEYS["username"]] = ADMIN_USERNAME
            secret_data[ADMIN_KEYS["password"]] = admin
            # configparser reads the file with interpolation: every % of a value (a percent-encoded password's) is doubled.
            secret_data["basic_auth.ini"] = pulumi.Output.all(credentials.ini_escaped(database_uri), credentials.ini_escaped(admin)).apply(
                lambda args: auth_config(*args)
            )
        config = credentials.secret(f"{name}-config", "mlflow-config", namespace, secret_data, child)

        env = [
            {"name": "MLFLOW_BACKEND_STORE_URI", "valueFrom": {"secretKeyRef": {"name": "mlflow-config", "key": "backend-store-uri"}}},
            {"name": "HOME", "value": "/tmp"},
            *({"name": key, "value": value} for key, value in MLFLOW_SERVER_ENV.items()),
        ]
        if store.is_minio:
            env += [{"name": "MLFLOW_S3_ENDPOINT_URL", "value": store.endpoint_url}, *store.key_env()]
        destination = store.artifacts_bucket.apply(lambda bucket: f"s3://{bucket}/{MLFLOW_ARTIFACTS_PREFIX}")
        args = [
            "server", "--host", "0.0.0.0", "--port", str(MLFLOW_PORT), "--workers", "2",
            "--serve-artifacts", "--artifacts-destination", destination,
            # Without it MLflow answers 403 to every request whose Host is the service name
            # (its default admits localhost and private IPs only); /health passes either way.
            "--allowed-hosts", ",".join(allowed_hosts(namespace, MLFLOW_PORT)),
        ]
        volumes = [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}]
        mounts = [{"name": "tmp", "mountPath": "/tmp"}]
        if basic_auth:
            args += ["--app-name", "basic-auth"]
            env += [
                {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": "/etc/mlflow/basic_auth.ini"},
                {"name": "MLFLOW_FLASK_SERVER_SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "mlflow-config", "key": "flask-secret-key"}}},
            ]
            volumes.append({"name": "auth", "secret": {"secretName": "mlflow-config", "items": [{"key": "basic_auth.ini", "path": "basic_auth.ini"}]}})
            mounts.append({"name": "auth", "mountPath": "/etc/mlflow", "readOnly": True})
        if database_ca_config_map is not None:
            # The database's CA, which the URI's sslrootcert names (verify-full).
            volumes.append({"name": "database-ca", "configMap": {"name": database_ca_config_map}})
            mounts.append({"name": "database-ca", "mountPath": CA_DIR, "readOnly": True})
        probe = {"httpGet": {"path": "/health", "port": MLFLOW_PORT}}
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": "mlflow", "namespace": namespace, "labels": labels},
            spec={
                "replicas": 2,
                "selector": {"matchLabels": MLFLOW_PODS},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **placement.pod_fields(MLFLOW_PODS, spread=True),
                        "serviceAccountName": service_account_name,
                        "securityContext": pod_security(),
                        "containers": [
                            {
                                "name": "mlflow",
                                "image": versions.IMAGES["mlflow"],
                                "command": ["mlflow"],
                                "args": args,
                                "env": env,
                                "ports": [{"name": "http", "containerPort": MLFLOW_PORT}],
                                "securityContext": container_security(),
                                "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
                                "readinessProbe": {**probe, "periodSeconds": 10},
                                "livenessProbe": {**probe, "periodSeconds": 30, "failureThreshold": 5},
                                "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 60},
                                "volumeMounts": mounts,
                            }
                        ],
                        "volumes": volumes,
                    },
                },
            },
            # Its pods read the Secret (the database URI: on RDS minutes after the cluster) and run as the
            # service account (with its IRSA role) from their first start.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, account]),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "mlflow", "namespace": namespace, "labels": labels},
            spec={"type": "ClusterIP", "selector": MLFLOW_PODS, "ports": [{"name": "http", "port": MLFLOW_PORT, "targetPort": MLFLOW_PORT}]},
            opts=child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata={"name": "mlflow", "namespace": namespace},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": MLFLOW_PODS}},
            opts=child,
        )
        self.url = f"http://mlflow.{namespace}.svc.cluster.local:{MLFLOW_PORT}"
        self.config_secret = config.metadata["name"]
        self.register_outputs({"url": self.url})
