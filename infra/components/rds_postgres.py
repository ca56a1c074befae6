"""MLflow's backend database on RDS: encrypted, private, TLS-only; Multi-AZ, backups and deletion protection per stack.

Its master password is RDS's own (``manage_master_user_password``): RDS creates it in AWS Secrets Manager on the
platform's secrets key and rotates it (every 7 days by default); the program never sees it. The External Secrets
Operator reads it from :attr:`RdsPostgres.secret_arn` (infra/credentials.py).
"""

from __future__ import annotations

import pulumi

from infra.components.rds_common import Engine, Placement, private_instance
from infra.config import DatabaseSettings
from infra.flows import POSTGRES_PORT

DATABASE = "mlflow"
ENGINE = Engine(
    engine="postgres",
    version="17.6",
    parameter_family="postgres17",
    label="Postgres",
    port=POSTGRES_PORT,
    username="mlflow",
    exported_logs=("postgresql",),
    # Refuse unencrypted connections; log statements slower than a second.
    parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"},
)


class RdsPostgres(pulumi.ComponentResource):
    """A private Postgres instance reachable only from the cluster's nodes and pods, encrypted with the platform's key."""

    host: pulumi.Output[str]
    # The secret RDS keeps the master user's credentials in (JSON: username, password).
    secret_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        database: DatabaseSettings,
        prod: bool,
        protect: bool,
        placement: Placement,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``placement``: the stack's network, keys and log retention, shared with KFP's instance (infra/components/rds_common.py)."""
        super().__init__("mlplatform:aws:RdsPostgres", name, None, opts)
        # Stateful: the registry of every model. Protected and retained in prod. The port is the engine's default.
        instance = private_instance(
            name, ENGINE, database.instance_class, database, prod, protect, placement, self,
            db_name=DATABASE, iam_database_authentication_enabled=True,
        )
        self.host = instance.address
        self.secret_arn = instance.master_user_secrets.apply(lambda secrets: secrets[0].secret_arn)
        self.register_outputs({"host": self.host})
