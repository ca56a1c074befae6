"""MLflow's backend database on RDS: encrypted, private, TLS-only; Multi-AZ, backups and deletion protection per stack.

Its master password is RDS's own (``manage_master_user_password``): RDS creates it in AWS Secrets Manager on the
platform's secrets key and rotates it (every 7 days by default); the program never sees it. The External Secrets
Operator reads it from :attr:`RdsPostgres.secret_arn` (infra/credentials.py).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra import aws_log_groups
from infra.components import encryption_key
from infra.config import DatabaseSettings

ENGINE_VERSION = "17.6"
DATABASE = "mlflow"
USERNAME = "mlflow"
# The logs the instance exports to CloudWatch.
EXPORTED_LOGS = ("postgresql",)


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
        super().__init__("mlplatform:aws:RdsPostgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # A fixed identifier (the component's name, unique per stack: mlp-<environment>-mlflow-db), so that
        # the log groups it exports to are known, and declared, before the instance exists: created
        # first, on a key of the platform's that CloudWatch Logs may use for them only, with retention.
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
            description=f"{name}: Postgres from the cluster security group only",
            # Not the VPC's CIDR: that would admit the public subnets (load balancers, NAT) too.
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=5432, to_port=5432, security_groups=[clients_security_group])],
            opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            name,
            family="postgres17",
            parameters=[
                # Refuse unencrypted connections.
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="1000"),
            ],
            opts=child,
        )
        # Stateful: the registry of every model. Protected and retained in prod.
        instance = aws.rds.Instance(
            name,
            identifier=identifier,
            engine="postgres",
            engine_version=ENGINE_VERSION,
            instance_class=database.instance_class,
            allocated_storage=20,
            max_allocated_storage=200,
            storage_type="gp3",
            storage_encrypted=True,
            # The platform's own key, not the AWS-managed aws/rds: its policy and rotation are ours.
            kms_key_id=kms_key_arn,
            db_name=DATABASE,
            username=USERNAME,
            # RDS generates, stores and rotates the password in Secrets Manager, on the platform's secrets key.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=secrets_kms_key_arn,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[security_group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            multi_az=database.multi_az,
            backup_retention_period=database.backup_retention_days,
            deletion_protection=prod,
            skip_final_snapshot=not prod,
            final_snapshot_identifier=f"{name}-final" if prod else None,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=list(EXPORTED_LOGS),
            opts=pulumi.ResourceOptions(parent=self, depends_on=log_groups, protect=protect, retain_on_delete=protect),
        )
        self.host = instance.address
        self.secret_arn = instance.master_user_secrets.apply(lambda secrets: secrets[0].secret_arn)
        self.register_outputs({"host": self.host})
