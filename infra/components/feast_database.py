"""The local stack's online store: the feature store's own database and user in the in-cluster PostgreSQL.

A Job in the database's namespace connects as its administrator (verified TLS against the platform's CA) and creates
role, database and schema when absent, and sets the role's password to the generated one on every run: idempotent,
so an existing cluster gets the database too (an init script would run only on an empty data folder). The password is
a Secret in each client's namespace (the feature server's, and the pipelines' for the feature steps).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import feature_store, versions
from infra.components import cluster_postgres
from infra.flows import POSTGRES_PORT
from infra.workload_security import restricted_container, restricted_job
from pipelines.features import repo

# psql variables keep the password out of the SQL text; \gexec runs a statement only when the SELECT returns it.
SQL = f"""\
SELECT format('CREATE ROLE {repo.POSTGRES_USER} LOGIN PASSWORD %L', :'password')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{repo.POSTGRES_USER}') \\gexec
ALTER ROLE {repo.POSTGRES_USER} WITH LOGIN PASSWORD :'password';
SELECT 'CREATE DATABASE {repo.POSTGRES_DATABASE} OWNER {repo.POSTGRES_USER}'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{repo.POSTGRES_DATABASE}') \\gexec
\\c {repo.POSTGRES_DATABASE}
CREATE SCHEMA IF NOT EXISTS {repo.POSTGRES_SCHEMA} AUTHORIZATION {repo.POSTGRES_USER};
"""
SCRIPT = 'printf "%s" "$FEAST_SQL" | psql -v ON_ERROR_STOP=1 -v password="$FEAST_PASSWORD" "$ADMIN_DSN"'


def admin_dsn(host: str) -> str:
    """libpq's connection string of the administrator (the image's POSTGRES_USER), verified against the CA."""
    return (f"host={host} port={POSTGRES_PORT} dbname={cluster_postgres.DATABASE_NAME} "
            f"user={cluster_postgres.USERNAME} sslmode=verify-full sslrootcert={cluster_postgres.CA_FILE}")


class FeastDatabase(pulumi.ComponentResource):
    """The ``feast`` role, database and schema, and its password in each client namespace."""

    job: k8s.batch.v1.Job
    password: pulumi.Output[str]

    def __init__(self, name: str, namespace: str, host: str, client_namespaces: Sequence[str],
                 opts: pulumi.ResourceOptions | None = None, client_opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:FeastDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-password", length=40, special=False, opts=child)
        # The Job's own copy (it sets the password), then the clients'.
        secrets = [
            k8s.core.v1.Secret(
                f"{name}-{space}-credentials",
                metadata={"name": feature_store.POSTGRES_SECRET, "namespace": space},
                string_data={feature_store.POSTGRES_PASSWORD_KEY: password.result},
                opts=child if space == namespace else pulumi.ResourceOptions.merge(client_opts, child),
            )
            for space in (namespace, *client_namespaces)
        ]
        labels = {**feature_store.DATABASE_JOB_PODS, "app.kubernetes.io/part-of": "mlplatform"}
        env = [
            {"name": "ADMIN_DSN", "value": admin_dsn(host)},
            {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": cluster_postgres.CREDENTIALS_SECRET, "key": "password"}}},
            {"name": "FEAST_PASSWORD", "valueFrom": {"secretKeyRef": {"name": feature_store.POSTGRES_SECRET,
                                                                      "key": feature_store.POSTGRES_PASSWORD_KEY}}},
            {"name": "FEAST_SQL", "value": SQL},
            {"name": "HOME", "value": "/tmp"},
        ]
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={"namespace": namespace, "labels": labels},
            spec=restricted_job(
                labels,
                restricted_container(
                    "create",
                    versions.IMAGES["postgres"],
                    command=["bash", "-c", SCRIPT],
                    env=env,
                    volumeMounts=[{"name": "tmp", "mountPath": "/tmp"},
                                  {"name": "ca", "mountPath": cluster_postgres.CA_DIR, "readOnly": True}],
                ),
                [{"name": "tmp", "emptyDir": {}}, {"name": "ca", "configMap": {"name": cluster_postgres.CA_CONFIG_MAP}}],
                uid=999,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=secrets[:1]),
        )
        self.password = pulumi.Output.secret(password.result)
        self.register_outputs({})
