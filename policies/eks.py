"""EKS rules: the control plane's logging, encryption, endpoint, version and authentication, and NetworkPolicy enforcement;
the log groups of every service (EKS, RDS).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from infra import aws_log_groups
from infra.config import SUPPORTED_KUBERNETES_VERSIONS, covers_internet
from policies.helpers import (
    SECURITY,
    Tunable,
    as_json,
    get,
    message,
    of_type,
    rule,
)
from policies.rds import RDS

CLUSTER = "aws:eks/cluster:Cluster"


ADDON = "aws:eks/addon:Addon"


ALL_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


REQUIRED_LOG_TYPES = Tunable("requiredLogTypes", {"type": "array", "items": {"type": "string"}}, ALL_LOG_TYPES)


@rule("eks-control-plane-logging", "EKS sends every control-plane log type to CloudWatch.",
      SECURITY, Severity.HIGH, "Enable api, audit, authenticator, controllerManager and scheduler logs.",
      tunables=[REQUIRED_LOG_TYPES])
def eks_logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    required = REQUIRED_LOG_TYPES.read(args)
    missing = sorted(set(required) - set(get(args.props, "enabledClusterLogTypes", []) or []))
    if missing:
        report(message(
            f"EKS control-plane log types {missing} are off.",
            "without audit and authenticator logs nobody can tell who did what to the cluster.",
            "set enabled_cluster_log_types to all of api, audit, authenticator, controllerManager, scheduler.",
        ))


@rule("eks-secrets-encryption", "EKS envelope-encrypts Secrets with a KMS key.",
      SECURITY, Severity.HIGH, "Set encryption_config with a customer-managed KMS key for resources [secrets].")
def eks_secrets_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    config = get(args.props, "encryptionConfig") or {}
    if "secrets" not in (get(config, "resources", []) or []) or not get(config, "provider.keyArn"):
        report(message(
            "EKS secrets are not envelope-encrypted with a KMS key.",
            "Kubernetes Secrets (database passwords, tokens) would sit in etcd with AWS-managed encryption only.",
            "set encryption_config with resources [secrets] and a customer-managed KMS key.",
        ))


@rule("eks-endpoint-restricted", "The EKS API endpoint is private or limited to known CIDRs, never 0.0.0.0/0.",
      SECURITY, Severity.CRITICAL, "Turn the public endpoint off or restrict public_access_cidrs.")
def eks_endpoint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    vpc = get(args.props, "vpcConfig") or {}
    if get(vpc, "endpointPublicAccess", True) is False:
        return
    cidrs = get(vpc, "publicAccessCidrs") or ["0.0.0.0/0"]
    if covers_internet(cidrs):
        report(message(
            f"The EKS API endpoint is open to the whole internet ({', '.join(cidrs)} cover every address).",
            "the API server becomes a target for credential stuffing and any future auth bypass.",
            "set endpointPublicAccess false, or publicAccessCidrs to your VPN or office ranges.",
        ))


SUPPORTED_VERSIONS = Tunable("supportedVersions", {"type": "array", "items": {"type": "string"}}, list(SUPPORTED_KUBERNETES_VERSIONS))


@rule("eks-supported-version", "EKS runs a Kubernetes version in standard support.",
      SECURITY, Severity.MEDIUM, "Upgrade to a supported version.",
      tunables=[SUPPORTED_VERSIONS])
def eks_version(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    supported = SUPPORTED_VERSIONS.read(args)
    version = get(args.props, "version")
    if version not in supported:
        report(message(
            f"EKS version {version} is outside the supported window {supported}.",
            "outside standard support AWS bills extended support and security fixes stop.",
            f"upgrade kubernetesVersion to one of {supported}.",
        ))


@rule("eks-vpc-cni-network-policy", "The vpc-cni add-on enforces NetworkPolicies.",
      SECURITY, Severity.HIGH, "Configure vpc-cni with enableNetworkPolicy \"true\".", stack=True)
def vpc_cni_network_policy(args: StackValidationArgs, report: ReportViolation) -> None:
    clusters = of_type(args.resources, (CLUSTER,))
    if not clusters:
        return
    cni = [a for a in of_type(args.resources, (ADDON,)) if get(a.props, "addonName") == "vpc-cni"]
    enabled = [a for a in cni if get(as_json(get(a.props, "configurationValues", "{}")) or {}, "enableNetworkPolicy") in ("true", True)]
    if not enabled:
        report(
            message(
                "The vpc-cni add-on does not enforce NetworkPolicies (enableNetworkPolicy is not \"true\").",
                "every default-deny and allow policy in the cluster would be silently ignored.",
                "manage vpc-cni as an EKS add-on with configuration_values {\"enableNetworkPolicy\": \"true\"}.",
            ),
            cni[0].urn if cni else clusters[0].urn,
        )


ALLOWED_AUTHENTICATION_MODES = Tunable("allowedAuthenticationModes", {"type": "array", "items": {"type": "string"}}, ["API"])


@rule("eks-access-entries-only", "EKS authenticates through access entries only (mode API, no aws-auth ConfigMap) and gives "
      "the cluster's creator no implicit admin.",
      SECURITY, Severity.CRITICAL, "Set access_config authentication_mode API and bootstrap_cluster_creator_admin_permissions false.",
      tunables=[ALLOWED_AUTHENTICATION_MODES])
def eks_access_entries_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    allowed = ALLOWED_AUTHENTICATION_MODES.read(args)
    # EKS's defaults when access_config is left out: the aws-auth ConfigMap, and the creator as a hidden admin.
    mode = get(args.props, "accessConfig.authenticationMode") or "CONFIG_MAP"
    creator_admin = get(args.props, "accessConfig.bootstrapClusterCreatorAdminPermissions", True) is not False
    problems = ([f"authentication mode {mode} (allowed: {', '.join(allowed)})"] if mode not in allowed else []) + (
        ["the creator is bootstrapped as cluster-admin"] if creator_admin else [])
    if problems:
        report(message(
            f"The EKS cluster {get(args.props, 'name') or args.name} grants access outside its access entries: {'; '.join(problems)}.",
            "anyone who can edit kube-system/aws-auth, or whoever ran the first `pulumi up`, is cluster-admin with no "
            "access entry to review, audit or revoke.",
            "set access_config authentication_mode API and bootstrap_cluster_creator_admin_permissions false; grant people "
            "access through clusterAdminArns (access entries).",
        ))


ACCESS_POLICY_ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"


def _account(arn: Any) -> str | None:
    """The account of an ARN (arn:aws:iam::123456789012:role/x), or None for an unknown value."""
    parts = str(arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


@rule("cluster-admins-in-account", "Cluster-admin access goes only to principals of the cluster's own AWS account.",
      SECURITY, Severity.CRITICAL, "Grant another account's people a role in this account (reviewed), not cluster-admin directly.",
      stack=True)
def cluster_admins_in_account(args: StackValidationArgs, report: ReportViolation) -> None:
    accounts = {_account(get(c.props, "roleArn")) for c in of_type(args.resources, (CLUSTER,))} - {None}
    for association in of_type(args.resources, (ACCESS_POLICY_ASSOCIATION,)):
        if not str(get(association.props, "policyArn", "")).endswith(CLUSTER_ADMIN_POLICY):
            continue
        principal = get(association.props, "principalArn")
        account = _account(principal)
        if accounts and account and account not in accounts:
            report(message(
                f"{principal} of account {account} is cluster-admin of a cluster in {', '.join(sorted(accounts))}.",
                "whoever controls that other account controls every workload, secret and model of this cluster.",
                "remove it from clusterAdminArns; let that account assume a role of this account if it must.",
            ), association.urn)


LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@rule("log-groups-encrypted", "CloudWatch log groups are encrypted with a customer-managed KMS key.",
      SECURITY, Severity.MEDIUM, "Set kms_key_id to a platform key whose policy admits CloudWatch Logs for these groups.")
def log_groups_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == LOG_GROUP and not get(args.props, "kmsKeyId"):
        report(message(
            f"Log group {get(args.props, 'name')} is encrypted only with CloudWatch's own key.",
            "the control plane's audit and authenticator logs are readable by anyone with logs:GetLogEvents, with no key policy in the way.",
            "set kms_key_id to the platform's logs key (its policy admits CloudWatch Logs for this stack's groups only).",
        ))


@rule("service-log-groups-declared", "Every log group EKS or RDS will write to is declared by the stack (so its key and retention are).",
      SECURITY, Severity.MEDIUM, "Declare each exported log's group, on a platform logs key, before the cluster or instance.", stack=True)
def service_log_groups_declared(args: StackValidationArgs, report: ReportViolation) -> None:
    declared = {get(group.props, "name") for group in of_type(args.resources, (LOG_GROUP,))}
    why = "the service creates the group itself: encrypted only with CloudWatch's key and kept forever, out of the stack's hands."
    for cluster in of_type(args.resources, (CLUSTER,)):
        name = get(cluster.props, "name")
        if get(cluster.props, "enabledClusterLogTypes") and (not name or aws_log_groups.eks_control_plane(name) not in declared):
            report(message(
                f"The EKS cluster sends its logs to {aws_log_groups.eks_control_plane(name or '<generated name>')}, which the stack does not declare.",
                why, "name the cluster and declare that log group (with kms_key_id and retention) before the cluster.",
            ), cluster.urn)
    for instance in of_type(args.resources, (RDS,)):
        exported = get(instance.props, "enabledCloudwatchLogsExports") or []
        identifier = get(instance.props, "identifier")
        missing = [aws_log_groups.rds_instance(identifier or "<generated identifier>", log) for log in exported
                   if not identifier or aws_log_groups.rds_instance(identifier, log) not in declared]
        if missing:
            report(message(
                f"The RDS instance exports its logs to {', '.join(missing)}, which the stack does not declare.",
                why, "give the instance a fixed identifier and declare those log groups (with kms_key_id and retention) before it.",
            ), instance.urn)
