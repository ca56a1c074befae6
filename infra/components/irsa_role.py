"""An IAM role for one workload's service accounts (IRSA), scoped to its bucket prefixes."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from infra.workloads import Workload


def trust_policy(oidc_provider_arn: str, issuer_host: str, workload: Workload) -> str:
    """Web-identity trust for exactly the workload's service accounts and the STS audience."""
    subjects = list(workload.subjects)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer_host}:sub": subjects[0] if len(subjects) == 1 else subjects,
                            f"{issuer_host}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


# DynamoDB actions per table grant: a reader looks items up (Feast's online read is BatchGetItem; apply and its waiter
# DescribeTable); a writer also puts them (materialize's batch writer). Neither creates, deletes or scans a table.
TABLE_ACTIONS = {
    "read": ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:BatchGetItem"],
    "write": ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"],
}


def access_policy(workload: Workload, bucket_arns: Mapping[str, str], kms_key_arn: str, table_arns: Mapping[str, str] | None = None) -> str:
    """Object-store access limited to the workload's grants (bucket purpose, prefix, read or write), and DynamoDB access
    limited to its tables (``table_arns``: table name to ARN, the tables the program created)."""
    statements: list[dict] = []
    for purpose, prefix, mode in workload.grants:
        bucket_arn = bucket_arns[purpose]
        actions = ["s3:GetObject", "s3:GetObjectVersion"]
        if mode == "write":
            actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        elif mode == "backup":
            # A backup job: puts its dumps and reads one back to restore; it can never delete or overwrite history
            # (the bucket is versioned), so a job whose database credentials leak cannot erase the backups.
            actions = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
        statements.append(
            {
                "Sid": f"{mode.capitalize()}{purpose.capitalize()}Objects",
                "Effect": "Allow",
                "Action": actions,
                "Resource": f"{bucket_arn}/{prefix}*",
            }
        )
        listing: dict = {"Sid": f"List{purpose.capitalize()}", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn}
        if prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*", prefix]}}
        statements.append(listing)
    for purpose in workload.bucket_heads:
        statements.append({"Sid": f"Head{purpose.capitalize()}", "Effect": "Allow", "Action": "s3:ListBucket",
                           "Resource": bucket_arns[purpose]})
    for index, (table, mode) in enumerate(workload.tables):
        if table not in (table_arns or {}):
            raise ValueError(f"{workload.name}: table {table!r} is not one the program created ({sorted(table_arns or {})})")
        statements.append({"Sid": f"{mode.capitalize()}Table{index}", "Effect": "Allow", "Action": TABLE_ACTIONS[mode],
                           "Resource": (table_arns or {})[table]})
    if workload.grants or workload.tables:
        # The buckets and the tables are encrypted with the same platform key.
        key_actions = ["kms:Decrypt", "kms:DescribeKey"]
        if any(mode in ("write", "backup") for _, _, mode in workload.grants) or any(mode == "write" for _, mode in workload.tables):
            key_actions += ["kms:GenerateDataKey", "kms:Encrypt"]
        statements.append({"Sid": "UseBucketKey", "Effect": "Allow", "Action": key_actions, "Resource": kms_key_arn})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class IrsaRole(pulumi.ComponentResource):
    """One role per workload; trust conditioned on its exact service accounts."""

    arn: pulumi.Output[str]
    role_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        workload: Workload,
        oidc_provider_arn: pulumi.Input[str],
        oidc_issuer_url: pulumi.Input[str],
        bucket_arns: Mapping[str, pulumi.Input[str]],
        kms_key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
        table_arns: Mapping[str, pulumi.Input[str]] | None = None,
    ) -> None:
        super().__init__("mlplatform:aws:IrsaRole", name, None, opts)
        issuer_host = pulumi.Output.from_input(oidc_issuer_url).apply(lambda url: url.removeprefix("https://"))
        role = aws.iam.Role(
            name,
            description=f"IRSA role of {workload.namespace}/{','.join(workload.service_accounts)}",
            assume_role_policy=pulumi.Output.all(oidc_provider_arn, issuer_host).apply(
                lambda args: trust_policy(args[0], args[1], workload)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if workload.grants or workload.tables:
            purposes = sorted(bucket_arns)
            tables = sorted({table for table, _ in workload.tables})
            given = table_arns or {}
            aws.iam.RolePolicy(
                name,
                role=role.id,
                policy=pulumi.Output.all(kms_key_arn, *[bucket_arns[p] for p in purposes], *[given[t] for t in tables if t in given]).apply(
                    lambda args: access_policy(
                        workload, dict(zip(purposes, args[1:1 + len(purposes)], strict=True)), args[0],
                        dict(zip([t for t in tables if t in given], args[1 + len(purposes):], strict=True)),
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        if workload.inline_policy:
            aws.iam.RolePolicy(f"{name}-inline", role=role.id, policy=workload.inline_policy, opts=pulumi.ResourceOptions(parent=self))
        for index, policy_arn in enumerate(workload.managed_policy_arns):
            aws.iam.RolePolicyAttachment(
                f"{name}-{index}", role=role.name, policy_arn=policy_arn, opts=pulumi.ResourceOptions(parent=self)
            )
        self.arn = role.arn
        self.role_name = role.name
        self.register_outputs({"arn": self.arn})
