"""MLflow's backend database in the cluster (local and dev stacks): one Postgres StatefulSet, restricted,
reached over TLS only.

The program is the certificate authority (infra/components/service_tls.py): a renewed certificate
rolls the pod, whose template carries the certificate's digest. Postgres' own
``pg_hba.conf`` admits TCP clients only over TLS (``hostssl``); clients verify the server
against the CA (``sslmode=verify-full``, :data:`CA_FILE`).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import database_tls, versions
from infra.components.service_tls import TLS_CERT_ANNOTATION, service_certificates, sha256
from infra.credentials import DATABASE, Credentials
from infra.database_tls import CA_DIR, CA_FILE  # noqa: F401 - CA_DIR: where its clients mount the CA
from infra.flows import POSTGRES_PODS, POSTGRES_PORT
from infra.placement import PLATFORM
from infra.workload_security import container_security, pod_security

DATABASE_NAME = "mlflow"
USERNAME = "mlflow"
# Its Secret (keys username, password, database); its backup (infra/components/backups.py) reads it too.
CREDENTIALS_SECRET = "postgres-credentials"
TLS_DIR = "/etc/postgresql/tls"
HBA_DIR = "/etc/postgresql/hba"
CA_CONFIG_MAP = database_tls.CA_CONFIG_MAP  # the clients mount it by this name (infra/database_tls.py)
# Local socket (the image's init scripts and pg_isready): trust, as the image's default; every TCP
# client: TLS and a SCRAM password. Plain TCP matches no line and is refused.
HBA = """\
local   all  all                 trust
hostssl all  all  0.0.0.0/0      scram-sha-256
hostssl all  all  ::/0           scram-sha-256
"""
# The server's flags (the image's entrypoint prepends `postgres`): TLS on, the key pair and the rules above.
ARGS = [
    "-c", "ssl=on",
    "-c", f"ssl_cert_file={TLS_DIR}/tls.crt",
    "-c", f"ssl_key_file={TLS_DIR}/tls.key",
    "-c", "ssl_min_protocol_version=TLSv1.2",
    "-c", f"hba_file={HBA_DIR}/pg_hba.conf",
]


class ClusterPostgres(pulumi.ComponentResource):
    """Postgres with the stack's database credential (infra/credentials.py), a PVC per replica and a ClusterIP service."""

    host: str
    ca_cert: pulumi.Output[str]

    def __init__(self, name: str, namespace: str, credentials: Credentials, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:ClusterPostgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = credentials.value(DATABASE, f"{name}-password", child)
        account = credentials.secret(
            f"{name}-credentials", CREDENTIALS_SECRET, namespace,
            {"username": USERNAME, "password": password, "database": DATABASE_NAME}, child,
        )
        host = f"postgres.{namespace}.svc.cluster.local"
        certificates = service_certificates(name, "postgres", namespace, child)
        ca_cert, server_cert, server_key = certificates.ca_cert, certificates.server_cert, certificates.server_key
        k8s.core.v1.Secret(
            f"{name}-tls",
            metadata={"name": "postgres-tls", "namespace": namespace},
            type="kubernetes.io/tls",
            string_data={"tls.crt": server_cert, "tls.key": server_key},
            opts=child,
        )
        k8s.core.v1.ConfigMap(f"{name}-hba", metadata={"name": "postgres-hba", "namespace": namespace}, data={"pg_hba.conf": HBA}, opts=child)
        labels = {**POSTGRES_PODS, "app.kubernetes.io/part-of": "mlplatform"}
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "postgres", "namespace": namespace, "labels": labels},
            spec={"type": "ClusterIP", "selector": POSTGRES_PODS, "ports": [{"name": "postgres", "port": POSTGRES_PORT}]},
            opts=child,
        )
        secret_env = [
            {"name": env, "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": key}}}
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
                    "metadata": {
                        "labels": labels,
                        # A renewed certificate changes the template, so `pulumi up` restarts Postgres on it.
                        "annotations": {TLS_CERT_ANNOTATION: sha256(server_cert)},
                    },
                    "spec": {
                        # A platform pod (dev's MLflow database; prod's is RDS).
                        "priorityClassName": PLATFORM.name,
                        "automountServiceAccountToken": False,
                        # fsGroup 999: the key file is root:999 0640, which Postgres accepts for a root-owned key.
                        "securityContext": pod_security(uid=999),
                        "containers": [
                            {
                                "name": "postgres",
                                "image": versions.IMAGES["postgres"],
                                "args": ARGS,
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
                                    {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                                    {"name": "hba", "mountPath": HBA_DIR, "readOnly": True},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "run", "emptyDir": {}},
                            {"name": "tmp", "emptyDir": {}},
                            {"name": "tls", "secret": {"secretName": "postgres-tls", "defaultMode": 0o640}},
                            {"name": "hba", "configMap": {"name": "postgres-hba"}},
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}},
                    }
                ],
            },
            # Its pods read the credentials Secret (on AWS synced from Secrets Manager) from their first start.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        self.host = host
        self.ca_cert = ca_cert
        self.register_outputs({"host": self.host})

    def ca_config_map(self, namespace: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
        """The CA certificate as a ConfigMap in a client's namespace (mount it at :data:`CA_DIR`)."""
        return k8s.core.v1.ConfigMap(
            f"{namespace}-{CA_CONFIG_MAP}",
            metadata={"name": CA_CONFIG_MAP, "namespace": namespace},
            data={"ca.crt": self.ca_cert},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=self)),
        )

    @property
    def client_options(self) -> str:
        """libpq's connection options for a client that mounted the CA at :data:`CA_DIR`."""
        return f"sslmode=verify-full&sslrootcert={CA_FILE}"

