"""RDS rules: encryption, no public address, backups and deletion protection, TLS only; Multi-AZ and a final snapshot in prod.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from policies.helpers import (
    SECURITY,
    Tunable,
    get,
    message,
    of_type,
    resource_environment,
    rule,
)

RDS = "aws:rds/instance:Instance"


RDS_PARAMETERS = "aws:rds/parameterGroup:ParameterGroup"


@rule("rds-storage-encrypted", "RDS storage is encrypted with a customer-managed KMS key.",
      SECURITY, Severity.HIGH, "Set storage_encrypted true and kms_key_id to the platform's key.")
def rds_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != RDS:
        return
    if get(args.props, "storageEncrypted") is not True:
        report(message(
            "The RDS instance's storage is not encrypted.",
            "the model registry's database and its snapshots would rest in clear.",
            "set storage_encrypted true (encryption cannot be added later without a snapshot restore).",
        ))
    elif not get(args.props, "kmsKeyId"):
        report(message(
            "The RDS instance is encrypted with the AWS-managed key (aws/rds), not the platform's.",
            "nobody can restrict, audit or rotate who decrypts the registry's data and snapshots, or share a snapshot safely.",
            "set kms_key_id to the platform's customer-managed key (it cannot be changed later without a snapshot restore).",
        ))


SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
POSTGRES_PORT = 5432


@rule("rds-reachable-from-the-cluster-only", "The database's security group admits security groups, never address ranges.",
      SECURITY, Severity.HIGH, "Allow 5432 from the cluster security group only.")
def rds_reachable_from_cluster_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SECURITY_GROUP:
        return
    for ingress in get(args.props, "ingress", []) or []:
        ports = (ingress.get("fromPort") or 0, ingress.get("toPort") or 0)
        if ports[0] <= POSTGRES_PORT <= ports[1] and (ingress.get("cidrBlocks") or ingress.get("ipv6CidrBlocks")):
            report(message(
                f"A security group admits Postgres (5432) from {ingress.get('cidrBlocks') or ingress.get('ipv6CidrBlocks')}.",
                "every host in those ranges (the public subnets' load balancers and NAT included) can try the database.",
                "admit only the cluster security group (security_groups), whose nodes and pods are the database's clients.",
            ))


@rule("rds-not-public", "RDS is not publicly accessible.",
      SECURITY, Severity.CRITICAL, "Set publicly_accessible false.")
def rds_private(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == RDS and get(args.props, "publiclyAccessible") is True:
        report(message(
            "The RDS instance is publicly accessible.",
            "the database would get a public address reachable from the internet.",
            "set publicly_accessible false and reach it from the VPC only.",
        ))


MIN_BACKUP_RETENTION_DAYS = Tunable("minBackupRetentionDays", {"type": "integer"}, 7)


@rule("rds-backups-and-deletion-protection", "RDS keeps enough backups; prod has deletion protection.",
      SECURITY, Severity.MEDIUM, "Raise backup_retention_period; set deletion_protection in prod.",
      tunables=[MIN_BACKUP_RETENTION_DAYS])
def rds_backups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != RDS:
        return
    minimum = MIN_BACKUP_RETENTION_DAYS.read(args)
    days = get(args.props, "backupRetentionPeriod", 0) or 0
    if days < minimum:
        report(message(
            f"RDS keeps {days:.0f} days of backups, fewer than {minimum}.",
            "a bad migration noticed after the window could not be undone.",
            f"set backup_retention_period to at least {minimum}.",
        ))
    if resource_environment(args) == "prod" and get(args.props, "deletionProtection") is not True:
        report(message(
            "The prod RDS instance has no deletion protection.",
            "one mistaken destroy would delete the model registry.",
            "set deletion_protection true in prod.",
        ))


@rule("rds-force-ssl", "RDS refuses unencrypted connections (rds.force_ssl = 1).",
      SECURITY, Severity.HIGH, "Attach a parameter group with rds.force_ssl = 1.", stack=True)
def rds_force_ssl(args: StackValidationArgs, report: ReportViolation) -> None:
    groups = {get(g.props, "name"): g for g in of_type(args.resources, (RDS_PARAMETERS,)) if get(g.props, "name")}
    for instance in of_type(args.resources, (RDS,)):
        group = groups.get(get(instance.props, "parameterGroupName"))
        parameters = {p.get("name"): str(p.get("value")) for p in (get(group.props, "parameters", []) if group else [])}
        if parameters.get("rds.force_ssl") != "1":
            report(
                message(
                    "The RDS instance accepts unencrypted connections (rds.force_ssl is not 1).",
                    "database credentials and registry data could cross the VPC in clear text.",
                    "attach a parameter group with rds.force_ssl = 1.",
                ),
                instance.urn,
            )


@rule("rds-multi-az-and-final-snapshot-in-prod", "Prod's RDS instances are Multi-AZ and take a final snapshot when deleted.",
      SECURITY, Severity.HIGH, "Set multi_az true and skip_final_snapshot false (with a final_snapshot_identifier) in prod.")
def rds_prod_resilience(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != RDS or resource_environment(args) != "prod":
        return
    problems = (["it is single-AZ"] if get(args.props, "multiAz") is not True else []) + (
        # Unset is the provider's default, false: a delete then needs final_snapshot_identifier, and fails safe without it.
        ["it skips the final snapshot"] if get(args.props, "skipFinalSnapshot") is True else [])
    if problems:
        report(message(
            f"The prod RDS instance {get(args.props, 'identifier') or args.name} is not resilient: {' and '.join(problems)}.",
            "a zone outage stops the model registry (no standby), and a delete or replacement loses it with no snapshot to restore.",
            "set multi_az true (rdsMultiAz), skip_final_snapshot false and final_snapshot_identifier.",
        ))
