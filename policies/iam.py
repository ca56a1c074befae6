"""IAM rules: no wildcard admin, IRSA trust pinned to exact service accounts.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from policies.helpers import (
    SECURITY,
    as_json,
    get,
    message,
    rule,
)

ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_DOCUMENTS = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


@rule("iam-no-wildcard-admin", "No IAM policy allows \"*\" actions on \"*\" resources.",
      SECURITY, Severity.CRITICAL, "Scope the actions and resources.")
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


@rule("irsa-trust-scoped", "IRSA trust uses StringEquals on :sub (exact service accounts) and :aud.",
      SECURITY, Severity.HIGH, "Add StringEquals conditions on <issuer>:sub and <issuer>:aud.")
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
