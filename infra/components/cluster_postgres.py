"""MLflow's backend database in the cluster (local and dev stacks): one Postgres StatefulSet, restricted,
reached over TLS only.

The program is the certificate authority: a CA and a server certificate for the service's DNS
names (pulumi-tls, kept in the stack's encrypted state, renewed by `pulumi up` in their last 30
days, which also rolls the pod: its template carries the certificate's digest). Postgres' own
``pg_hba.conf`` admits TCP clients only over TLS (``hostssl``); clients verify the server
against the CA (``sslmode=verify-full``, :data:`CA_FILE`).
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumi_tls as tls

from infra import versions
from infra.flows import POSTGRES_PODS, POSTGRES_PORT
from infra.workload_security import container_security, pod_security

DATABASE = "mlflow"
USERNAME = "mlflow"
TLS_DIR = "/etc/postgresql/tls"
HBA_DIR = "/etc/postgresql/hba"
# Where a client mounts the CA certificate (the ConfigMap from :meth:`ClusterPostgres.ca_config_map`).
CA_DIR = "/etc/postgres-ca"
CA_FILE = f"{CA_DIR}/ca.crt"
CA_CONFIG_MAP = "postgres-ca"
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
CA_DAYS, SERVER_DAYS, RENEW_DAYS = 5 * 365, 365, 30


class ClusterPostgres(pulumi.ComponentResource):
    """Postgres with a generated password, a PVC per replica and a ClusterIP service."""

    host: str
    password: pulumi.Output[str]
    ca_cert: pulumi.Output[str]

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
        host = f"postgres.{namespace}.svc.cluster.local"
        ca_cert, server_cert, server_key = self._certificates(name, namespace, host, child)
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
                    "metadata": {
                        "labels": labels,
                        # A renewed certificate changes the template, so `pulumi up` restarts Postgres on it.
                        "annotations": {"mlplatform.io/tls-cert-sha256": server_cert.apply(_sha256)},
                    },
                    "spec": {
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
            opts=child,
        )
        self.host = host
        self.password = pulumi.Output.secret(password.result)
        self.ca_cert = ca_cert
        self.register_outputs({"host": self.host})

    @staticmethod
    def _certificates(
        name: str, namespace: str, host: str, child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Output[str], pulumi.Output[str], pulumi.Output[str]]:
        """The CA certificate, and the server's certificate and key, for the service's DNS names."""
        ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            subject={"common_name": f"mlplatform {namespace} postgres CA", "organization": "mlplatform"},
            validity_period_hours=CA_DAYS * 24,
            early_renewal_hours=RENEW_DAYS * 24,
            allowed_uses=["cert_signing", "crl_signing"],
            opts=child,
        )
        key = tls.PrivateKey(f"{name}-server-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        request = tls.CertRequest(
            f"{name}-server-request",
            private_key_pem=key.private_key_pem,
            subject={"common_name": host, "organization": "mlplatform"},
            dns_names=["postgres", f"postgres.{namespace}", f"postgres.{namespace}.svc", host],
            opts=child,
        )
        server = tls.LocallySignedCert(
            f"{name}-server",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=SERVER_DAYS * 24,
            early_renewal_hours=RENEW_DAYS * 24,
            allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
            opts=child,
        )
        return ca.cert_pem, server.cert_pem, pulumi.Output.secret(key.private_key_pem)

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


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
