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
import pulumi_aws as aws

from infra import aws_log_groups, versions
from infra.components import encryption_key
from infra.config import DatabaseSettings, KfpDatabaseSettings
from infra.flows import MYSQL_PORT

# The 8.4 line of the in-cluster MySQL (infra/versions.py IMAGES["mysql"]), the line KFP 2.17.0 ships
# (third-party/mysql: mysql:8.4). RDS picks its current 8.4 minor and upgrades minors itself
# (auto_minor_version_upgrade); the provider does not diff a major-only version against the running minor.
ENGINE_VERSION = ".".join(versions.IMAGES["mysql"].rsplit(":", 1)[1].split(".")[:2])
PARAMETER_FAMILY = f"mysql{ENGINE_VERSION}"
# The master user KFP's clients sign in as (mysql-secret's username).
USERNAME = "kfp"
# The logs the instance exports to CloudWatch.
EXPORTED_LOGS = ("error", "slowquery")
# Parameters of the instance's group: TLS only (1.2+), slow queries logged.
PARAMETERS = {"require_secure_transport": "ON", "tls_version": "TLSv1.2,TLSv1.3", "slow_query_log": "1", "long_query_time": "2"}


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
        vpc_id: pulumi.Input[str],
        subnet_ids: list[pulumi.Output[str]],
        clients_security_group: pulumi.Input[str],
        kms_key_arn: pulumi.Input[str],
        secrets_kms_key_arn: pulumi.Input[str],
        account_id: pulumi.Input[str],
        region: str,
        log_retention_days: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``policy``: the stack's RDS keys (rdsBackupRetentionDays, rdsMultiAz), shared with MLflow's instance."""
        super().__init__("mlplatform:aws:RdsMysql", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # A fixed identifier (mlp-<environment>-kfp-db): its log groups are declared before the instance exists.
        identifier = name
        logs_key = encryption_key.logs_key(name, protect, child, account_id, region, aws_log_groups.rds_instance(identifier))
        log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-{log}",
                name=aws_log_groups.rds_instance(identifier, log),
                retention_in_days=log_retention_days,
                kms_key_id=logs_key.arn,
                opts=child,
            )
            for log in EXPORTED_LOGS
        ]
        subnets = aws.rds.SubnetGroup(name, subnet_ids=subnet_ids, opts=child)
        security_group = aws.ec2.SecurityGroup(
            name,
            vpc_id=vpc_id,
            description=f"{name}: MySQL from the cluster security group only",
            # Not the VPC's CIDR: that would admit the public subnets (load balancers, NAT) too.
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=MYSQL_PORT, to_port=MYSQL_PORT,
                                                      security_groups=[clients_security_group])],
            opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            name,
            family=PARAMETER_FAMILY,
            parameters=[aws.rds.ParameterGroupParameterArgs(name=key, value=value) for key, value in PARAMETERS.items()],
            opts=child,
        )
        # Stateful: every pipeline run, its lineage (MLMD) and the cache. Protected and retained in prod.
        instance = aws.rds.Instance(
            name,
            identifier=identifier,
            engine="mysql",
            engine_version=ENGINE_VERSION,
            instance_class=settings.instance_class,
            allocated_storage=20,
            max_allocated_storage=200,
            storage_type="gp3",
            storage_encrypted=True,
            # The platform's own key, not the AWS-managed aws/rds: its policy and rotation are ours.
            kms_key_id=kms_key_arn,
            username=USERNAME,
            # RDS generates, stores and rotates the password in Secrets Manager, on the platform's secrets key.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=secrets_kms_key_arn,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[security_group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            port=MYSQL_PORT,
            multi_az=policy.multi_az,
            backup_retention_period=policy.backup_retention_days,
            deletion_protection=prod,
            skip_final_snapshot=not prod,
            final_snapshot_identifier=f"{name}-final" if prod else None,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            enabled_cloudwatch_logs_exports=list(EXPORTED_LOGS),
            opts=pulumi.ResourceOptions(parent=self, depends_on=log_groups, protect=protect, retain_on_delete=protect),
        )
        self.host = instance.address
        self.username = USERNAME
        self.secret_arn = instance.master_user_secrets.apply(lambda secrets: secrets[0].secret_arn)
        self.register_outputs({"host": self.host})
