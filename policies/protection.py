"""Lifecycle rules: prod's stateful resources are protected from deletion.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from policies.eks import CLUSTER
from policies.helpers import (
    SECURITY,
    message,
    resource_environment,
    rule,
)
from policies.rds import RDS
from policies.s3 import BUCKETS


@rule("stateful-resources-protected", "Prod buckets, databases, keys and clusters are protected.",
      SECURITY, Severity.HIGH, "Set protect: true in the prod stack.")
def stateful_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (*BUCKETS, RDS, CLUSTER, "aws:kms/key:Key"):
        return
    if resource_environment(args) == "prod" and not args.opts.protect:
        report(message(
            f"Stateful {args.resource_type} {args.name} is not protected in prod.",
            "a refactor that renames it would delete and recreate it, losing its data.",
            "set protect (and retain_on_delete) on prod stateful resources: the protect stack setting.",
        ))
