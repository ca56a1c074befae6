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


GITHUB_ISSUER = "token.actions.githubusercontent.com"


def _web_identity_statements(args: ResourceValidationArgs) -> list[dict]:
    """The statements of a role's trust policy that admit web identities (OIDC)."""
    return [statement for statement in _as_list(get(as_json(get(args.props, "assumeRolePolicy", "{}")), "Statement", []))
            if "sts:AssumeRoleWithWebIdentity" in _as_list(statement.get("Action"))]


@rule("github-oidc-trust-scoped", "GitHub OIDC trust names exact subjects of one repository (StringEquals) and the STS audience.",
      SECURITY, Severity.CRITICAL, "StringEquals on token.actions.githubusercontent.com:sub = repo:<owner>/<repo>:<context> and :aud.")
def github_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ROLE:
        return
    for statement in _web_identity_statements(args):
        if GITHUB_ISSUER not in str(get(statement, "Principal.Federated", "")):
            continue
        equals = get(statement, "Condition.StringEquals", {}) or {}
        subjects = [s for s in _as_list(equals.get(f"{GITHUB_ISSUER}:sub", [])) if isinstance(s, str)]
        repositories = {s.split(":")[1] for s in subjects if s.startswith("repo:") and s.count(":") >= 2}
        if (not subjects or any("*" in s or not s.startswith("repo:") for s in subjects) or len(repositories) != 1
                or equals.get(f"{GITHUB_ISSUER}:aud") != "sts.amazonaws.com" or get(statement, "Condition.StringLike")):
            report(message(
                "A role trusts GitHub's OIDC tokens without pinning exact subjects of one repository and the STS audience.",
                "any workflow of any repository (or any branch, any fork's pull request) could assume it.",
                "add StringEquals on token.actions.githubusercontent.com:sub = [repo:<owner>/<repo>:environment:<env>, ...] "
                "and :aud = sts.amazonaws.com; no StringLike, no wildcard.",
            ))


@rule("irsa-trust-scoped", "IRSA trust uses StringEquals on :sub (exact service accounts) and :aud.",
      SECURITY, Severity.HIGH, "Add StringEquals conditions on <issuer>:sub and <issuer>:aud.")
def irsa_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != ROLE:
        return
    for statement in _web_identity_statements(args):
        if GITHUB_ISSUER in str(get(statement, "Principal.Federated", "")):
            continue  # GitHub's workflows, not pods: github-oidc-trust-scoped
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
