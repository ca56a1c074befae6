"""What one AWS account needs before the platform's first `pulumi up`, and what its CI assumes.

- the state bucket of the platform's stacks (``pulumi login s3://...``): versioned, SSE-KMS, public
  access blocked, TLS only (the platform's own SecureBucket), protected;
- the KMS key of Pulumi's secrets provider (``--secrets-provider awskms://alias/...``), protected;
- GitHub's OIDC provider and two roles it may assume, for this repository only:
  the **preview** role (pull requests; the promotion workflow on main): AWS's ReadOnlyAccess, the
  state bucket's lock objects and the secrets key; the **deploy** role (the deploy workflow's
  environments): PowerUserAccess (everything but IAM and Organizations) plus IAM only on the
  platform's own roles, policies and EKS OIDC providers, and the service-linked roles it needs.

The platform's stacks name the two roles in ``ciPreviewRoleArn``/``ciDeployRoleArn`` (their EKS access
entries) and the workflows in ``AWS_PREVIEW_ROLE_ARN``/``AWS_DEPLOY_ROLE_ARN``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from infra.components.encryption_key import EncryptionKey
from infra.components.secure_bucket import SecureBucket
from infra.example_values import EXAMPLE_ACCOUNT

PROJECT = "mlplatform-bootstrap"
# The committed stack file's repository: an offline example, refused in any real account.
EXAMPLE_REPOSITORY = "example/mlplatform"
GITHUB_ISSUER = "token.actions.githubusercontent.com"
SECRETS_KEY = "mlplatform-pulumi"
STATE_NONCURRENT_DAYS = 90
# The services whose service-linked roles the platform's first `pulumi up` makes AWS create.
SERVICE_LINKED = ("eks.amazonaws.com", "eks-nodegroup.amazonaws.com", "autoscaling.amazonaws.com",
                  "elasticloadbalancing.amazonaws.com", "rds.amazonaws.com", "spot.amazonaws.com")
ROLE_ACTIONS = ("iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:TagRole", "iam:UntagRole",
                "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
                "iam:ListRolePolicies", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole", "iam:PassRole")
POLICY_ACTIONS = ("iam:CreatePolicy", "iam:DeletePolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:CreatePolicyVersion",
                  "iam:DeletePolicyVersion", "iam:ListPolicyVersions", "iam:TagPolicy", "iam:UntagPolicy")
OIDC_ACTIONS = ("iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider", "iam:GetOpenIDConnectProvider",
                "iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint",
                "iam:AddClientIDToOpenIDConnectProvider")


class ConfigError(ValueError):
    """A bad bootstrap config value: one line naming the key."""


class Settings(BaseModel):
    """The account's bootstrap settings (bootstrap/Pulumi.yaml declares each key)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    aws_region: str
    github_repository: str
    deploy_environments: tuple[str, ...]
    platform_prefix: str

    @field_validator("github_repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", value):
            raise ValueError("not a GitHub repository; give owner/name (no wildcard: the roles trust this repository only)")
        return value

    @field_validator("deploy_environments")
    @classmethod
    def _environments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not re.match(r"^[\w.-]+$", name) for name in value):
            raise ValueError("list the GitHub environments of the deploy jobs, e.g. [staging, prod] (no wildcard)")
        return value

    @field_validator("platform_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9-]{1,20}$", value):
            raise ValueError("a short lowercase name prefix, e.g. mlp- (the deploy role manages IAM under it only)")
        return value


def parse(raw: dict[str, Any]) -> Settings:
    """``raw`` (camelCase keys) as Settings, or a ConfigError naming the key."""
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        problem = error.errors()[0]
        key = ".".join(str(part) for part in problem["loc"])
        value = f" = {json.dumps(raw[key])}" if key in raw else ""
        raise ConfigError(f"{PROJECT}:{key}{value}: {problem['msg'].removeprefix('Value error, ')}") from None


def load() -> Settings:
    """The stack's settings, from Pulumi config (defaults in bootstrap/Pulumi.yaml)."""
    config = pulumi.Config()
    raw = {key: config.get_object(key) if key == "deployEnvironments" else config.get(key)
           for key in ("awsRegion", "githubRepository", "deployEnvironments", "platformPrefix")}
    return parse({key: value for key, value in raw.items() if value is not None})


def github_trust(provider_arn: str, subjects: list[str]) -> str:
    """Only these workflow subjects of GitHub's OIDC tokens (StringEquals, no wildcard) may assume the role."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{GITHUB_ISSUER}:aud": "sts.amazonaws.com", f"{GITHUB_ISSUER}:sub": subjects}},
    }]})


def preview_subjects(settings: Settings) -> list[str]:
    """Pull requests' previews, and the promotion workflow (workflow_dispatch on main)."""
    return [f"repo:{settings.github_repository}:pull_request", f"repo:{settings.github_repository}:ref:refs/heads/main"]


def deploy_subjects(settings: Settings) -> list[str]:
    """The deploy workflow's jobs, by the environment each runs in."""
    return [f"repo:{settings.github_repository}:environment:{name}" for name in settings.deploy_environments]


def deploy_iam_policy(account: str, region: str, prefix: str) -> str:
    """IAM for the deploy role: the platform's own roles, policies and EKS OIDC providers, and the service-linked roles."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "PlatformRoles", "Effect": "Allow", "Action": list(ROLE_ACTIONS), "Resource": f"arn:aws:iam::{account}:role/{prefix}*"},
        {"Sid": "PlatformPolicies", "Effect": "Allow", "Action": list(POLICY_ACTIONS), "Resource": f"arn:aws:iam::{account}:policy/{prefix}*"},
        {"Sid": "ClusterOidcProviders", "Effect": "Allow", "Action": list(OIDC_ACTIONS),
         "Resource": f"arn:aws:iam::{account}:oidc-provider/oidc.eks.{region}.amazonaws.com/id/*"},
        {"Sid": "ServiceLinkedRoles", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED)}}},
    ]})


def preview_state_policy(bucket_arn: str, key_arn: str) -> str:
    """What a preview writes: the backend's lock objects; and the secrets key, to read the stacks' secrets."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "StateLocks", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": f"{bucket_arn}/.pulumi/locks/*"},
        {"Sid": "StackSecrets", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], "Resource": key_arn},
    ]})


def build(settings: Settings) -> dict[str, Any]:
    """Declare the account's parts and return the outputs the platform's set-up needs."""
    provider = aws.Provider("aws", region=settings.aws_region,
                            default_tags=aws.ProviderDefaultTagsArgs(tags={"project": "mlplatform", "managed-by": "pulumi"}))
    opts = pulumi.ResourceOptions(provider=provider)
    caller = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=provider)).account_id
    if caller != EXAMPLE_ACCOUNT and settings.github_repository == EXAMPLE_REPOSITORY:
        raise pulumi.RunError(f"{PROJECT}:githubRepository = {EXAMPLE_REPOSITORY!r} is the offline example: the CI roles would trust "
                              "someone else's repository; set yours (pulumi config set githubRepository <owner>/<name>)")
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    key = EncryptionKey(SECRETS_KEY, "Pulumi state and secrets of the ML platform's stacks", True, opts)
    state = SecureBucket("mlplatform-state", bucket_name=account.apply(lambda a: f"mlplatform-pulumi-state-{a}"), kms_key_arn=key.arn,
                         protect=True, force_destroy=False, noncurrent_version_days=STATE_NONCURRENT_DAYS, opts=opts)
    github = aws.iam.OpenIdConnectProvider("github", url=f"https://{GITHUB_ISSUER}", client_id_lists=["sts.amazonaws.com"], opts=opts)
    preview = aws.iam.Role("ci-preview", assume_role_policy=github.arn.apply(lambda arn: github_trust(arn, preview_subjects(settings))), opts=opts)
    aws.iam.RolePolicyAttachment("ci-preview-read-only", role=preview.name, policy_arn="arn:aws:iam::aws:policy/ReadOnlyAccess", opts=opts)
    aws.iam.RolePolicy("ci-preview-state", role=preview.id,
                       policy=pulumi.Output.all(state.arn, key.arn).apply(lambda args: preview_state_policy(*args)), opts=opts)
    deploy = aws.iam.Role("ci-deploy", assume_role_policy=github.arn.apply(lambda arn: github_trust(arn, deploy_subjects(settings))), opts=opts)
    aws.iam.RolePolicyAttachment("ci-deploy-power-user", role=deploy.name, policy_arn="arn:aws:iam::aws:policy/PowerUserAccess", opts=opts)
    aws.iam.RolePolicy("ci-deploy-platform-iam", role=deploy.id,
                       policy=account.apply(lambda a: deploy_iam_policy(a, settings.aws_region, settings.platform_prefix)), opts=opts)
    return {
        "backendUrl": state.bucket.apply(lambda bucket: f"s3://{bucket}?region={settings.aws_region}"),
        "secretsProvider": f"awskms://alias/{SECRETS_KEY}?region={settings.aws_region}",
        "previewRoleArn": preview.arn,
        "deployRoleArn": deploy.arn,
        "githubOidcProviderArn": github.arn,
    }
