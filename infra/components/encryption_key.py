"""A customer-managed KMS key with rotation, for EKS secrets, S3, RDS or CloudWatch Logs."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws


def logs_key_policy(account_id: str, region: str, log_group_prefix: str) -> str:
    """The default key policy (the account administers the key through IAM) plus CloudWatch Logs, which may use
    the key only for the log groups whose names start with ``log_group_prefix`` (the encryption context it sends)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "CloudWatchLogs", "Effect": "Allow", "Principal": {"Service": f"logs.{region}.amazonaws.com"},
             "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
             "Resource": "*",
             "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                       f"arn:aws:logs:{region}:{account_id}:log-group:{log_group_prefix}*"}}},
        ],
    })


class EncryptionKey(pulumi.ComponentResource):
    """KMS key plus an alias; protected and retained where the stack asks for it."""

    arn: pulumi.Output[str]

    def __init__(
        self, name: str, description: str, protect: bool, opts: pulumi.ResourceOptions | None = None,
        policy: pulumi.Input[str] | None = None,
    ) -> None:
        super().__init__("mlplatform:aws:EncryptionKey", name, None, opts)
        # Stateful: losing the key loses every object it encrypted.
        key = aws.kms.Key(
            name,
            description=description,
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        aws.kms.Alias(name, name=f"alias/{name}", target_key_id=key.key_id, opts=pulumi.ResourceOptions(parent=self))
        self.arn = key.arn
        self.register_outputs({"arn": self.arn})


def logs_key(
    owner: str, protect: bool, opts: pulumi.ResourceOptions, account_id: pulumi.Input[str], region: str, log_group_prefix: str
) -> EncryptionKey:
    """``owner``-logs: a key for ``owner``'s log groups, which CloudWatch Logs may use for those groups only."""
    return EncryptionKey(
        f"{owner}-logs", f"CloudWatch Logs encryption for {owner}", protect, opts,
        policy=pulumi.Output.from_input(account_id).apply(lambda account: logs_key_policy(account, region, log_group_prefix)),
    )
