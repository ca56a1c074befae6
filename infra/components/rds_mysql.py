"""KFP's database on RDS MySQL: Multi-AZ, encrypted with the platform's key, TLS-only, private; backups,
deletion protection and a final snapshot per stack.

KFP 2.17.0 takes an external MySQL through the same keys its in-cluster one uses (pipeline-install-config's
mysqlHost/mysqlPort, mysql-secret's username/password): the overlay variant ``*-rds`` of
infra/manifests/kubeflow-pipelines drops upstream's MySQL and points every client at this instance's address.
The clients create their databases (mlpipeline, cachedb, metadb) themselves at first start, as they do in the
cluster, so the instance is created without one.

Its master password is RDS's own (``manage_master_user_password``), as RdsPostgres's: RDS creates it in AWS
Secrets Manager on the platform's secrets key and rotates it; the program never sees it. The External Secrets
Operator reads it from :attr:`RdsMysql.secret_arn` into KFP's ``mysql-secret`` and MLMD's config (infra/credentials.py).
"""

from __future__ import annotations

import pulumi

from infra import versions
from infra.components.rds_common import Engine, Placement, private_instance
from infra.config import DatabaseSettings, KfpDatabaseSettings
from infra.flows import MYSQL_PORT

# The 8.4 line of the in-cluster MySQL (infra/versions.py IMAGES["mysql"]), the line KFP 2.17.0 ships
# (third-party/mysql: mysql:8.4). RDS picks its current 8.4 minor and upgrades minors itself
# (auto_minor_version_upgrade); the provider does not diff a major-only version against the running minor.
ENGINE_VERSION = ".".join(versions.IMAGES["mysql"].rsplit(":", 1)[1].split(".")[:2])
# The master user KFP's clients sign in as (mysql-secret's username).
USERNAME = "kfp"
# The instance: TLS only (1.2+), slow queries logged; the error and slow-query logs exported to CloudWatch.
ENGINE = Engine(
    engine="mysql",
    version=ENGINE_VERSION,
    parameter_family=f"mysql{ENGINE_VERSION}",
    label="MySQL",
    port=MYSQL_PORT,
    username=USERNAME,
    exported_logs=("error", "slowquery"),
    parameters={"require_secure_transport": "ON", "tls_version": "TLSv1.2,TLSv1.3", "slow_query_log": "1", "long_query_time": "2"},
)


class RdsMysql(pulumi.ComponentResource):
    """A private MySQL instance reachable only from the cluster security group, encrypted with the platform's key."""

    host: pulumi.Output[str]
    username: str
    # The secret RDS keeps the master user's credentials in (JSON: username, password).
    secret_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        settings: KfpDatabaseSettings,
        policy: DatabaseSettings,
        prod: bool,
        protect: bool,
        placement: Placement,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``policy``: the stack's RDS keys (rdsBackupRetentionDays, rdsMultiAz), and ``placement`` its network, keys and
        log retention, both shared with MLflow's instance (infra/components/rds_common.py)."""
        super().__init__("mlplatform:aws:RdsMysql", name, None, opts)
        # Stateful: every pipeline run, its lineage (MLMD) and the cache. Protected and retained in prod.
        instance = private_instance(name, ENGINE, settings.instance_class, policy, prod, protect, placement, self, port=ENGINE.port)
        self.host = instance.address
        self.username = USERNAME
        self.secret_arn = instance.master_user_secrets.apply(lambda secrets: secrets[0].secret_arn)
        self.register_outputs({"host": self.host})
