"""S3 rules.

S3 in pulumi-aws v7 keeps encryption, public access block, versioning and the bucket policy in
separate resources tied to ``aws:s3/bucket:Bucket``, so these rules are stack-level joins of each
bucket with its companions (accepting the deprecated ``...V2`` tokens too); a pack that read the
removed inline fields would pass a bare v7 bucket.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from policies.helpers import (
    SECURITY,
    Tunable,
    as_json,
    get,
    message,
    of_type,
    resource_environment,
    rule,
)

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")


SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)


PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)


VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")


BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)


def _companions(args: StackValidationArgs, types: tuple[str, ...]) -> dict[str, PolicyResource]:
    """Companion resources keyed by the bucket (name or id) they configure."""
    return {str(get(r.props, "bucket")): r for r in of_type(args.resources, types)}


def _bucket_keys(bucket: PolicyResource) -> set[str]:
    return {str(v) for v in (get(bucket.props, "bucket"), get(bucket.props, "id")) if v}


def _find(bucket: PolicyResource, companions: dict[str, PolicyResource]) -> PolicyResource | None:
    return next((companions[k] for k in _bucket_keys(bucket) if k in companions), None)


@rule("s3-bucket-encryption", "S3 buckets use SSE (KMS) via their encryption configuration.",
      SECURITY, Severity.HIGH, "Add aws.s3.BucketServerSideEncryptionConfiguration (aws:kms, bucket key) for every bucket.", stack=True)
def s3_encryption(args: StackValidationArgs, report: ReportViolation) -> None:
    companions = _companions(args, SSE)
    for bucket in of_type(args.resources, BUCKETS):
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


@rule("s3-bucket-public-access-block", "S3 buckets block every form of public access.",
      SECURITY, Severity.CRITICAL, "Add aws.s3.BucketPublicAccessBlock with the four flags true.", stack=True)
def s3_public_access_block(args: StackValidationArgs, report: ReportViolation) -> None:
    companions = _companions(args, PUBLIC_ACCESS_BLOCK)
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in of_type(args.resources, BUCKETS):
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


VERSIONED_ENVIRONMENTS = Tunable("environments", {"type": "array", "items": {"type": "string"}}, ["prod"])


@rule("s3-bucket-versioning", "S3 buckets are versioned in the configured environments.",
      SECURITY, Severity.MEDIUM, "Add aws.s3.BucketVersioning with status Enabled.",
      tunables=[VERSIONED_ENVIRONMENTS], stack=True)
def s3_versioning(args: StackValidationArgs, report: ReportViolation) -> None:
    environments = set(VERSIONED_ENVIRONMENTS.read(args))
    companions = _companions(args, VERSIONING)
    for bucket in of_type(args.resources, BUCKETS):
        if resource_environment(bucket) not in environments:
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


@rule("s3-bucket-tls-only", "S3 bucket policies deny requests without TLS.",
      SECURITY, Severity.HIGH, "Add a BucketPolicy statement denying s3:* when aws:SecureTransport is false.", stack=True)
def s3_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    companions = _companions(args, BUCKET_POLICY)
    for bucket in of_type(args.resources, BUCKETS):
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


LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")


@rule("s3-access-logging-in-prod", "Prod buckets deliver their server access logs to a log bucket.",
      SECURITY, Severity.MEDIUM, "Add aws.s3.BucketLogging to the stack's access-log bucket for every prod bucket.", stack=True)
def s3_access_logging(args: StackValidationArgs, report: ReportViolation) -> None:
    logging = _companions(args, LOGGING)
    targets = {str(get(r.props, "targetBucket")) for r in of_type(args.resources, LOGGING)}
    for bucket in of_type(args.resources, BUCKETS):
        if resource_environment(bucket) != "prod" or _bucket_keys(bucket) & targets or _find(bucket, logging):
            continue
        report(message(
            f"Prod bucket {get(bucket.props, 'bucket')} has no server access logging.",
            "nobody could tell who read or replaced a model or a training set.",
            "deliver its access logs to the stack's locked access-log bucket (aws.s3.BucketLogging).",
        ), bucket.urn)


@rule("s3-no-force-destroy-in-prod", "Prod buckets are not force-destroyable (force_destroy false).",
      SECURITY, Severity.HIGH, "Set force_destroy false on prod buckets (forceDestroyBuckets: false).")
def s3_no_force_destroy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in BUCKETS or resource_environment(args) != "prod":
        return
    if get(args.props, "forceDestroy") is True:
        report(message(
            f"Prod bucket {get(args.props, 'bucket') or args.name} has force_destroy on.",
            "one `pulumi destroy` or a rename would delete every object in it, every version of every model and data set included.",
            "set force_destroy false (forceDestroyBuckets: false); empty a bucket by hand, reviewed, if it must go.",
        ))
