"""What the platform's RDS instances (MLflow's Postgres, KFP's MySQL) declare alike: one owner for each of it.

Each instance gets a fixed identifier (the component's name, unique per stack), so that the log groups it exports
to are known, and declared, before the instance exists: created first, on a key of the platform's that CloudWatch
Logs may use for them only, with retention. It sits in its own DB subnet group (the private subnets) behind a
security group whose one source is the cluster's, with a parameter group of the engine's TLS-only settings. The
instance is encrypted with the platform's RDS key; its master password is RDS's own (``manage_master_user_password``,
in Secrets Manager on the platform's secrets key); backups, Multi-AZ, deletion protection and a final snapshot
follow the stack's RDS keys; and in prod it is protected and retained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import aws_log_groups
from infra.components import encryption_key
from infra.config import DatabaseSettings


@dataclass(frozen=True)
class Engine:
    """What differs between the platform's engines: the rest of an instance is declared alike."""

    engine: str
    version: str
    parameter_family: str
    # The engine as the security group's description names it.
    label: str
    port: int
    username: str
    # The logs the instance exports to CloudWatch.
    exported_logs: tuple[str, ...]
    # The parameter group's parameters, in order.
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Placement:
    """Where an instance lives and who may reach it: the same for every instance of a stack."""

    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Output[str]]
    # The only source the security group admits (not the VPC's CIDR: that would admit the public subnets too).
    clients_security_group: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    secrets_kms_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: str
    log_retention_days: int


def private_instance(
    name: str,
    engine: Engine,
    instance_class: str,
    policy: DatabaseSettings,
    prod: bool,
    protect: bool,
    placement: Placement,
    parent: pulumi.Resource,
    **engine_args: Any,
) -> aws.rds.Instance:
    """``name``'s log key and groups, subnet group, security group, parameter group and instance, children of
    ``parent``. ``engine_args``: the engine's own instance arguments (db_name, port, IAM authentication)."""
    child = pulumi.ResourceOptions(parent=parent)
    identifier = name
    logs_key = encryption_key.logs_key(
        name, protect, child, placement.account_id, placement.region, aws_log_groups.rds_instance(identifier),
    )
    log_groups = [
        aws.cloudwatch.LogGroup(
            f"{name}-{log}",
            name=aws_log_groups.rds_instance(identifier, log),
            retention_in_days=placement.log_retention_days,
            kms_key_id=logs_key.arn,
            opts=child,
        )
        for log in engine.exported_logs
    ]
    subnets = aws.rds.SubnetGroup(name, subnet_ids=placement.subnet_ids, opts=child)
    security_group = aws.ec2.SecurityGroup(
        name,
        vpc_id=placement.vpc_id,
        description=f"{name}: {engine.label} from the cluster security group only",
        ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=engine.port, to_port=engine.port,
                                                  security_groups=[placement.clients_security_group])],
        opts=child,
    )
    parameters = aws.rds.ParameterGroup(
        name,
        family=engine.parameter_family,
        parameters=[aws.rds.ParameterGroupParameterArgs(name=key, value=value) for key, value in engine.parameters.items()],
        opts=child,
    )
    return aws.rds.Instance(
        name,
        identifier=identifier,
        engine=engine.engine,
        engine_version=engine.version,
        instance_class=instance_class,
        allocated_storage=20,
        max_allocated_storage=200,
        storage_type="gp3",
        storage_encrypted=True,
        # The platform's own key, not the AWS-managed aws/rds: its policy and rotation are ours.
        kms_key_id=placement.kms_key_arn,
        username=engine.username,
        # RDS generates, stores and rotates the password in Secrets Manager, on the platform's secrets key.
        manage_master_user_password=True,
        master_user_secret_kms_key_id=placement.secrets_kms_key_arn,
        db_subnet_group_name=subnets.name,
        vpc_security_group_ids=[security_group.id],
        parameter_group_name=parameters.name,
        publicly_accessible=False,
        multi_az=policy.multi_az,
        backup_retention_period=policy.backup_retention_days,
        deletion_protection=prod,
        skip_final_snapshot=not prod,
        final_snapshot_identifier=f"{name}-final" if prod else None,
        copy_tags_to_snapshot=True,
        auto_minor_version_upgrade=True,
        enabled_cloudwatch_logs_exports=list(engine.exported_logs),
        **engine_args,
        # Stateful: protected and retained in prod.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=log_groups, protect=protect, retain_on_delete=protect),
    )
