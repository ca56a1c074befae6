"""AWS rules: S3, EKS, node groups, RDS and IAM.

S3 in pulumi-aws v7 keeps encryption, public access block, versioning and the
bucket policy in separate resources tied to ``aws:s3/bucket:Bucket``, so those
rules are stack-level joins of each bucket with its companions (accepting the
deprecated ``...V2`` tokens too); a pack that reads the removed inline fields
would pass a bare v7 bucket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from infra import gpu
from policies.helpers import COST, SECURITY, as_json, environment_of, get, message, resource_environment, resource_policy, stack_policy

# The platform's GPU taint as a person writes it: nvidia.com/gpu=true:NoSchedule.
GPU_TAINT = f"{gpu.TAINT['key']}={gpu.TAINT['value']}:{gpu.TAINT_EFFECT}"

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ADDON = "aws:eks/addon:Addon"
RDS = "aws:rds/instance:Instance"
RDS_PARAMETERS = "aws:rds/parameterGroup:ParameterGroup"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_DOCUMENTS = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")
ALL_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def _of(resources: Iterable[PolicyResource], types: tuple[str, ...]) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def _companions(args: StackValidationArgs, types: tuple[str, ...]) -> dict[str, PolicyResource]:
    """Companion resources keyed by the bucket (name or id) they configure."""
    return {str(get(r.props, "bucket")): r for r in _of(args.resources, types)}


def _bucket_keys(bucket: PolicyResource) -> set[str]:
    return {str(v) for v in (get(bucket.props, "bucket"), get(bucket.props, "id")) if v}


def _find(bucket: PolicyResource, companions: dict[str, PolicyResource]) -> PolicyResource | None:
    return next((companions[k] for k in _bucket_keys(bucket) if k in companions), None)


# --- S3 -----------------------------------------------------------------------


def s3_encryption(args: StackValidationArgs, report: ReportViolation) -> None:
    companions = _companions(args, SSE)
    for bucket in _of(args.resources, BUCKETS):
        config = _find(bucket, companions)
        rules = get(config.props, "rules", []) if config else []
        algorithms = {get(r, "applyServerSideEncryptionByDefault.sseAlgorithm") for r in rules}
        if not algorithms & {"aws:kms", "aws:kms:dsse", "AES256"}:
            report(
                message(
                    f"Bucket {bucket.name} has no server-side encryption configuration.",
                    "objects (training data, models) would rely on account defaults and no customer-managed key.",
                    "add an aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm aws:kms and bucket_key_enabled.",
                ),
                bucket.urn,
            )


def s3_public_access_block(args: StackValidationArgs, report: ReportViolation) -> None:
    companions = _companions(args, PUBLIC_ACCESS_BLOCK)
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in _of(args.resources, BUCKETS):
        block = _find(bucket, companions)
        missing = [f for f in flags if not (block and get(block.props, f) is True)]
        if missing:
            report(
                message(
                    f"Bucket {bucket.name} does not block public access ({', '.join(missing)} not true).",
                    "one public ACL or policy would expose training data or models to the internet.",
                    "add an aws.s3.BucketPublicAccessBlock with all four flags true.",
                ),
                bucket.urn,
            )


def s3_versioning(args: StackValidationArgs, report: ReportViolation) -> None:
    environments = set(args.get_config().get("environments", ["prod"]))
    companions = _companions(args, VERSIONING)
    for bucket in _of(args.resources, BUCKETS):
        if environment_of(bucket.provider.props if bucket.provider else None) not in environments:
            continue
        versioning = _find(bucket, companions)
        if get(versioning.props if versioning else None, "versioningConfiguration.status") != "Enabled":
            report(
                message(
                    f"Bucket {bucket.name} is not versioned.",
                    "an overwritten or deleted model or data set could not be recovered.",
                    "add an aws.s3.BucketVersioning with status Enabled.",
                ),
                bucket.urn,
            )


def _denies_insecure_transport(policy: Any) -> bool:
    for statement in get(as_json(policy), "Statement", []) or []:
        if statement.get("Effect") == "Deny" and get(statement, "Condition.Bool", {}).get("aws:SecureTransport") in ("false", False):
            return True
    return False


def s3_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    companions = _companions(args, BUCKET_POLICY)
    for bucket in _of(args.resources, BUCKETS):
        policy = _find(bucket, companions)
        if not (policy and _denies_insecure_transport(get(policy.props, "policy"))):
            report(
                message(
                    f"Bucket {bucket.name} accepts requests without TLS.",
                    "credentials and data could cross the network in clear text.",
                    "add an aws.s3.BucketPolicy that denies s3:* when aws:SecureTransport is false.",
                ),
                bucket.urn,
            )


# --- EKS ----------------------------------------------------------------------


def eks_logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    required = args.get_config().get("requiredLogTypes", ALL_LOG_TYPES)
    missing = sorted(set(required) - set(get(args.props, "enabledClusterLogTypes", []) or []))
    if missing:
        report(message(
            f"EKS control-plane log types {missing} are off.",
            "without audit and authenticator logs nobody can tell who did what to the cluster.",
            "set enabled_cluster_log_types to all of api, audit, authenticator, controllerManager, scheduler.",
        ))


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


def eks_endpoint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    vpc = get(args.props, "vpcConfig") or {}
    if get(vpc, "endpointPublicAccess", True) is False:
        return
    cidrs = get(vpc, "publicAccessCidrs") or ["0.0.0.0/0"]
    if "0.0.0.0/0" in cidrs:
        report(message(
            "The EKS API endpoint is open to the whole internet (0.0.0.0/0).",
            "the API server becomes a target for credential stuffing and any future auth bypass.",
            "set endpointPublicAccess false, or publicAccessCidrs to your VPN or office ranges.",
        ))


def eks_version(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    supported = args.get_config().get("supportedVersions", ["1.34", "1.35"])
    version = get(args.props, "version")
    if version not in supported:
        report(message(
            f"EKS version {version} is outside the supported window {supported}.",
            "outside standard support AWS bills extended support and security fixes stop.",
            f"upgrade kubernetesVersion to one of {supported}.",
        ))


def vpc_cni_network_policy(args: StackValidationArgs, report: ReportViolation) -> None:
    clusters = _of(args.resources, (CLUSTER,))
    if not clusters:
        return
    cni = [a for a in _of(args.resources, (ADDON,)) if get(a.props, "addonName") == "vpc-cni"]
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


# --- Node groups --------------------------------------------------------------


def imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == NODE_GROUP and not get(args.props, "launchTemplate.id"):
        report(message(
            "The node group has no launch template, so IMDSv2 and disk encryption are not enforced.",
            "pods could steal the node role's credentials through IMDSv1.",
            "attach a launch template with metadata_options http_tokens required and hop limit 1.",
        ))
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    limit = args.get_config().get("maxHopLimit", 1)
    options = get(args.props, "metadataOptions") or {}
    if options.get("httpTokens") != "required" or (options.get("httpPutResponseHopLimit") or 2) > limit:
        report(message(
            f"Launch template does not require IMDSv2 with a hop limit of {limit}.",
            "pods could read the node role's credentials from the instance metadata service.",
            f"set metadata_options http_tokens required and http_put_response_hop_limit {limit}.",
        ))


def encrypted_volumes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    devices = get(args.props, "blockDeviceMappings", []) or []
    plain = [d.get("deviceName") for d in devices if str(get(d, "ebs.encrypted")).lower() != "true"]
    if plain or not devices:
        report(message(
            f"Node volumes {plain or ['(root, unmapped)']} are not encrypted.",
            "container images, logs and cached data sets would rest unencrypted on EBS.",
            "map the root (and data) volume with ebs.encrypted true.",
        ))


def gpu_tainted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_GROUP or get(args.props, "amiType") not in gpu.ALL_NVIDIA_AMI_TYPES:
        return
    taints = get(args.props, "taints", []) or []
    if not any(t.get("key") == gpu.TAINT["key"] and t.get("effect") == gpu.TAINT["effect"] for t in taints):
        report(message(
            f"A GPU node group is not tainted {GPU_TAINT}.",
            "ordinary pods would fill the most expensive nodes and keep them from scaling to zero.",
            f"add the taint {GPU_TAINT} to the node group.",
        ))


def spot_diversified(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_GROUP or get(args.props, "capacityType") != "SPOT":
        return
    minimum = args.get_config().get("minInstanceTypes", 3)
    types = get(args.props, "instanceTypes", []) or []
    if len(types) < minimum:
        report(message(
            f"A SPOT node group uses {len(types)} instance types, fewer than {minimum}.",
            "one reclaimed spot pool would take the whole group down.",
            f"list at least {minimum} instance types of the same size from different families.",
        ))


def gpu_budget(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_GROUP or get(args.props, "amiType") not in gpu.ALL_NVIDIA_AMI_TYPES:
        return
    budget = args.get_config().get("maxGpuNodes", 8)
    maximum = get(args.props, "scalingConfig.maxSize", 0) or 0
    if maximum > budget:
        report(message(
            f"A GPU node group may scale to {maximum:.0f} nodes, above the budget of {budget}.",
            "a runaway job could run up a large GPU bill before anyone notices.",
            f"lower maxSize to {budget} or raise the pack's maxGpuNodes after a cost review.",
        ))


def node_role_least_privilege(args: StackValidationArgs, report: ReportViolation) -> None:
    node_roles = {get(g.props, "nodeRoleArn") for g in _of(args.resources, (NODE_GROUP,))} - {None}
    names = {get(r.props, "name"): r for r in _of(args.resources, (ROLE,)) if get(r.props, "arn") in node_roles}
    for attachment in _of(args.resources, (ATTACHMENT,)):
        role = names.get(get(attachment.props, "role")) if get(attachment.props, "role") else None
        policy = str(get(attachment.props, "policyArn", ""))
        if role and ("S3" in policy or policy.endswith("FullAccess")):
            report(
                message(
                    f"The node role {role.name} carries {policy}.",
                    "every pod on every node would inherit that access; workloads must use their own IRSA roles.",
                    "detach it from the node role and grant the workload an IRSA role scoped to its prefixes.",
                ),
                attachment.urn,
            )


# --- RDS ----------------------------------------------------------------------


def rds_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == RDS and get(args.props, "storageEncrypted") is not True:
        report(message(
            "The RDS instance's storage is not encrypted.",
            "the model registry's database and its snapshots would rest in clear.",
            "set storage_encrypted true (encryption cannot be added later without a snapshot restore).",
        ))


def rds_private(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == RDS and get(args.props, "publiclyAccessible") is True:
        report(message(
            "The RDS instance is publicly accessible.",
            "the database would get a public address reachable from the internet.",
            "set publicly_accessible false and reach it from the VPC only.",
        ))


def rds_backups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != RDS:
        return
    minimum = args.get_config().get("minBackupRetentionDays", 7)
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


def rds_force_ssl(args: StackValidationArgs, report: ReportViolation) -> None:
    groups = {get(g.props, "name"): g for g in _of(args.resources, (RDS_PARAMETERS,)) if get(g.props, "name")}
    for instance in _of(args.resources, (RDS,)):
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


# --- IAM ----------------------------------------------------------------------


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def iam_no_wildcard(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in POLICY_DOCUMENTS:
        return
    for statement in _as_list(get(as_json(get(args.props, "policy", "{}")), "Statement", [])):
        if statement.get("Effect") == "Allow" and "*" in _as_list(statement.get("Action")) and "*" in _as_list(statement.get("Resource")):
            report(message(
                "An IAM policy allows every action on every resource (\"*\" on \"*\").",
                "whoever assumes the role owns the account.",
                "list the actions and resources the workload needs (scope S3 to bucket prefixes).",
            ))


def irsa_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ROLE:
        return
    for statement in _as_list(get(as_json(get(args.props, "assumeRolePolicy", "{}")), "Statement", [])):
        if statement.get("Action") != "sts:AssumeRoleWithWebIdentity" and "sts:AssumeRoleWithWebIdentity" not in _as_list(statement.get("Action")):
            continue
        equals = get(statement, "Condition.StringEquals", {}) or {}
        subjects = [v for k, v in equals.items() if k.endswith(":sub")]
        audiences = [v for k, v in equals.items() if k.endswith(":aud")]
        flat = [s for v in subjects for s in _as_list(v)]
        if not flat or any("*" in s or not s.startswith("system:serviceaccount:") for s in flat) or audiences != ["sts.amazonaws.com"]:
            report(message(
                "An IRSA trust policy is not pinned with StringEquals to exact service accounts (:sub) and the STS audience (:aud).",
                "any pod of any namespace in the cluster could assume the role.",
                "add StringEquals on <issuer>:sub = system:serviceaccount:<ns>:<sa> and <issuer>:aud = sts.amazonaws.com.",
            ))


def stateful_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (*BUCKETS, RDS, CLUSTER, "aws:kms/key:Key"):
        return
    if resource_environment(args) == "prod" and not args.opts.protect:
        report(message(
            f"Stateful {args.resource_type} {args.name} is not protected in prod.",
            "a refactor that renames it would delete and recreate it, losing its data.",
            "set protect (and retain_on_delete) on prod stateful resources: the protect stack setting.",
        ))


POLICIES = [
    stack_policy("s3-bucket-encryption", "S3 buckets use SSE (KMS) via their encryption configuration.", SECURITY, Severity.HIGH, s3_encryption,
                 "Add aws.s3.BucketServerSideEncryptionConfiguration (aws:kms, bucket key) for every bucket."),
    stack_policy("s3-bucket-public-access-block", "S3 buckets block every form of public access.", SECURITY, Severity.CRITICAL,
                 s3_public_access_block, "Add aws.s3.BucketPublicAccessBlock with the four flags true."),
    stack_policy("s3-bucket-versioning", "S3 buckets are versioned in the configured environments.", SECURITY, Severity.MEDIUM, s3_versioning,
                 "Add aws.s3.BucketVersioning with status Enabled.",
                 {"environments": {"type": "array", "items": {"type": "string"}, "default": ["prod"]}}),
    stack_policy("s3-bucket-tls-only", "S3 bucket policies deny requests without TLS.", SECURITY, Severity.HIGH, s3_tls_only,
                 "Add a BucketPolicy statement denying s3:* when aws:SecureTransport is false."),
    resource_policy("eks-control-plane-logging", "EKS sends every control-plane log type to CloudWatch.", SECURITY, Severity.HIGH, eks_logging,
                    "Enable api, audit, authenticator, controllerManager and scheduler logs.",
                    {"requiredLogTypes": {"type": "array", "items": {"type": "string"}, "default": ALL_LOG_TYPES}}),
    resource_policy("eks-secrets-encryption", "EKS envelope-encrypts Secrets with a KMS key.", SECURITY, Severity.HIGH, eks_secrets_encryption,
                    "Set encryption_config with a customer-managed KMS key for resources [secrets]."),
    resource_policy("eks-endpoint-restricted", "The EKS API endpoint is private or limited to known CIDRs, never 0.0.0.0/0.", SECURITY,
                    Severity.CRITICAL, eks_endpoint, "Turn the public endpoint off or restrict public_access_cidrs."),
    resource_policy("eks-supported-version", "EKS runs a Kubernetes version in standard support.", SECURITY, Severity.MEDIUM, eks_version,
                    "Upgrade to a supported version.",
                    {"supportedVersions": {"type": "array", "items": {"type": "string"}, "default": ["1.34", "1.35"]}}),
    stack_policy("eks-vpc-cni-network-policy", "The vpc-cni add-on enforces NetworkPolicies.", SECURITY, Severity.HIGH, vpc_cni_network_policy,
                 "Configure vpc-cni with enableNetworkPolicy \"true\"."),
    resource_policy("nodes-imdsv2-required", "Nodes require IMDSv2 with a hop limit of 1.", SECURITY, Severity.HIGH, imdsv2,
                    "Use a launch template with http_tokens required and hop limit 1.",
                    {"maxHopLimit": {"type": "integer", "default": 1}}),
    resource_policy("nodes-encrypted-volumes", "Node volumes are encrypted.", SECURITY, Severity.HIGH, encrypted_volumes,
                    "Map every volume in the launch template with ebs.encrypted true."),
    resource_policy("gpu-nodes-tainted", f"GPU node groups are tainted {GPU_TAINT}.", SECURITY, Severity.MEDIUM, gpu_tainted,
                    f"Add the {GPU_TAINT} taint."),
    resource_policy("spot-nodes-diversified", "SPOT node groups are diversified over several instance types.", SECURITY, Severity.MEDIUM,
                    spot_diversified, "List at least 3 instance types of one size.",
                    {"minInstanceTypes": {"type": "integer", "default": 3}}),
    resource_policy("gpu-node-budget", "GPU node groups stay within the GPU budget (cost).", COST, Severity.LOW, gpu_budget,
                    "Lower maxSize or raise maxGpuNodes after a cost review.", {"maxGpuNodes": {"type": "integer", "default": 8}}),
    stack_policy("node-role-least-privilege", "The node role carries no S3 or *FullAccess policy.", SECURITY, Severity.HIGH,
                 node_role_least_privilege, "Detach it; give workloads IRSA roles."),
    resource_policy("rds-storage-encrypted", "RDS storage is encrypted.", SECURITY, Severity.HIGH, rds_encrypted, "Set storage_encrypted true."),
    resource_policy("rds-not-public", "RDS is not publicly accessible.", SECURITY, Severity.CRITICAL, rds_private, "Set publicly_accessible false."),
    resource_policy("rds-backups-and-deletion-protection", "RDS keeps enough backups; prod has deletion protection.", SECURITY, Severity.MEDIUM,
                    rds_backups, "Raise backup_retention_period; set deletion_protection in prod.",
                    {"minBackupRetentionDays": {"type": "integer", "default": 7}}),
    stack_policy("rds-force-ssl", "RDS refuses unencrypted connections (rds.force_ssl = 1).", SECURITY, Severity.HIGH, rds_force_ssl,
                 "Attach a parameter group with rds.force_ssl = 1."),
    resource_policy("iam-no-wildcard-admin", "No IAM policy allows \"*\" actions on \"*\" resources.", SECURITY, Severity.CRITICAL,
                    iam_no_wildcard, "Scope the actions and resources."),
    resource_policy("irsa-trust-scoped", "IRSA trust uses StringEquals on :sub (exact service accounts) and :aud.", SECURITY, Severity.HIGH,
                    irsa_trust, "Add StringEquals conditions on <issuer>:sub and <issuer>:aud."),
    resource_policy("stateful-resources-protected", "Prod buckets, databases, keys and clusters are protected.", SECURITY, Severity.HIGH,
                    stateful_protected, "Set protect: true in the prod stack."),
]
