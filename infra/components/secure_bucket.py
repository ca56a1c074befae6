"""An S3 bucket with the companions pulumi-aws v7 keeps as separate resources.

SSE-KMS with a bucket key, versioning, public access block, bucket-owner
enforced ownership, a TLS-only policy and noncurrent-version expiry; optionally
its server access logs delivered to a log bucket. A log bucket (``AccessLogBucket``)
is the same but SSE-S3 (S3 delivers access logs to SSE-S3 buckets only), admits the
logging service for this account's buckets, and refuses every delete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

ACCESS_LOG_DAYS = 365


class SecureBucket(pulumi.ComponentResource):
    """One private, encrypted, versioned bucket."""

    bucket: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        bucket_name: pulumi.Input[str],
        kms_key_arn: pulumi.Input[str],
        protect: bool,
        force_destroy: bool,
        noncurrent_version_days: int,
        opts: pulumi.ResourceOptions | None = None,
        access_log_bucket: pulumi.Input[str] | None = None,
        log_delivery_account: pulumi.Input[str] | None = None,
        expire_prefixes: Mapping[str, int] | None = None,
    ) -> None:
        """``access_log_bucket``: where this bucket's server access logs go. ``log_delivery_account``: make this
        bucket a locked log bucket that receives the access logs of that account's buckets. ``expire_prefixes``:
        key prefix -> days after which its objects expire (their noncurrent versions then follow the rule above)."""
        super().__init__("mlplatform:aws:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Stateful: in protected stacks the bucket cannot be deleted by pulumi
        # and is retained if it leaves the program.
        bucket = aws.s3.Bucket(
            name,
            bucket=bucket_name,
            force_destroy=force_destroy,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        ownership = aws.s3.BucketOwnershipControls(
            name,
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    # A log bucket: SSE-S3, the only encryption S3's log delivery writes to.
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms" if log_delivery_account is None else "AES256",
                        kms_master_key_id=kms_key_arn if log_delivery_account is None else None,
                    ),
                    bucket_key_enabled=log_delivery_account is None,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            name,
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=noncurrent_version_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                    # A log bucket's logs expire after a year (lifecycle is not a request: the delete deny holds).
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=ACCESS_LOG_DAYS)
                    if log_delivery_account is not None else None,
                ),
                *[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id=f"expire-{prefix.strip('/').replace('/', '-')}",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
                        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                    )
                    for prefix, days in sorted((expire_prefixes or {}).items())
                ],
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        policy = (
            bucket.arn.apply(tls_only_policy) if log_delivery_account is None
            else pulumi.Output.all(bucket.arn, log_delivery_account).apply(lambda args: log_bucket_policy(*args))
        )
        aws.s3.BucketPolicy(
            name,
            bucket=bucket.id,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block, ownership]),
        )
        if access_log_bucket is not None:
            aws.s3.BucketLogging(
                name,
                bucket=bucket.id,
                target_bucket=access_log_bucket,
                target_prefix=pulumi.Output.from_input(bucket_name).apply(lambda bucket_id: f"{bucket_id}/"),
                opts=child,
            )
        self.bucket = bucket.bucket
        self.arn = bucket.arn
        self.register_outputs({"bucket": self.bucket, "arn": self.arn})


def _deny_insecure_transport(bucket_arn: str) -> dict:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_only_policy(bucket_arn: str) -> str:
    """A bucket policy that denies every request not made over TLS."""
    return json.dumps({"Version": "2012-10-17", "Statement": [_deny_insecure_transport(bucket_arn)]})


def log_bucket_policy(bucket_arn: str, account_id: str) -> str:
    """TLS only; S3's logging service may write this account's access logs; nobody may delete a log or
    loosen the lifecycle (old logs expire by lifecycle, which is not a request)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            _deny_insecure_transport(bucket_arn),
            {
                "Sid": "S3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
            {
                "Sid": "LogsAreNeverDeleted",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:DeleteBucket"],
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
            },
        ],
    })
