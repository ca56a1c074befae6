"""The bootstrap program (bootstrap/): the account's state bucket, secrets key, GitHub OIDC provider and CI roles,
offline under the platform's mocks, preview and policy pack."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pulumi
import pytest

from bootstrap import account, offline
from tooling import policy_report
from tooling.mocks import PlatformMocks, RecordingMonitor

ROOT = Path(__file__).resolve().parents[2]
GITHUB = account.GITHUB_ISSUER


@pytest.fixture(scope="module")
def run():
    """The committed example stack (bootstrap/Pulumi.account.yaml) under mocks."""
    return offline.run()


def _one(run, resource_type: str, name: str):
    (found,) = [r for r in run.resources if r.type == resource_type and r.name == name]
    return found


def test_state_bucket_and_secrets_key_are_private_encrypted_and_protected(run) -> None:
    """The platform's state: a versioned, SSE-KMS, public-access-blocked, TLS-only bucket and a rotated key, both protected."""
    bucket = _one(run, "aws:s3/bucket:Bucket", "mlplatform-state")
    key = _one(run, "aws:kms/key:Key", account.SECRETS_KEY)
    assert bucket.protect and bucket.retain_on_delete and not bucket.inputs.get("forceDestroy")
    assert key.protect and key.inputs["enableKeyRotation"] is True
    assert _one(run, "aws:s3/bucketVersioning:BucketVersioning", "mlplatform-state").inputs["versioningConfiguration"]["status"] == "Enabled"
    sse = _one(run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "mlplatform-state")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    block = _one(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "mlplatform-state").inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert "aws:SecureTransport" in _one(run, "aws:s3/bucketPolicy:BucketPolicy", "mlplatform-state").inputs["policy"]
    assert run.outputs["backendUrl"] == "s3://mlplatform-pulumi-state-123456789012?region=us-east-1"
    assert run.outputs["secretsProvider"] == f"awskms://alias/{account.SECRETS_KEY}?region=us-east-1"


def test_ci_roles_trust_exact_subjects_of_this_repository_only(run) -> None:
    """Pull requests and main's promotion assume the preview role; only the deploy environments assume the deploy role."""
    provider = _one(run, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "github").inputs
    assert provider["url"] == f"https://{GITHUB}" and provider["clientIdLists"] == ["sts.amazonaws.com"]
    subjects = {}
    for name in ("ci-preview", "ci-deploy"):
        (statement,) = json.loads(_one(run, "aws:iam/role:Role", name).inputs["assumeRolePolicy"])["Statement"]
        assert statement["Condition"]["StringEquals"][f"{GITHUB}:aud"] == "sts.amazonaws.com" and "StringLike" not in statement["Condition"]
        subjects[name] = statement["Condition"]["StringEquals"][f"{GITHUB}:sub"]
    assert subjects == {"ci-preview": ["repo:example/mlplatform:pull_request", "repo:example/mlplatform:ref:refs/heads/main"],
                        "ci-deploy": ["repo:example/mlplatform:environment:staging", "repo:example/mlplatform:environment:prod"]}


def test_ci_roles_permissions_preview_reads_deploy_manages_only_the_platforms_iam(run) -> None:
    """The preview role reads (and writes only the state's locks); the deploy role has no IAM beyond the platform's prefix."""
    attached = {r.name: r.inputs["policyArn"] for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attached == {"ci-preview-read-only": "arn:aws:iam::aws:policy/ReadOnlyAccess",
                        "ci-deploy-power-user": "arn:aws:iam::aws:policy/PowerUserAccess"}
    state = json.loads(_one(run, "aws:iam/rolePolicy:RolePolicy", "ci-preview-state").inputs["policy"])["Statement"]
    assert {s["Sid"]: s["Resource"].split(":::")[-1] for s in state if s["Sid"] == "StateLocks"} == {
        "StateLocks": "mlplatform-pulumi-state-123456789012/.pulumi/locks/*"}
    iam = json.loads(_one(run, "aws:iam/rolePolicy:RolePolicy", "ci-deploy-platform-iam").inputs["policy"])["Statement"]
    scoped = {s["Sid"]: s["Resource"] for s in iam}
    assert scoped["PlatformRoles"] == "arn:aws:iam::123456789012:role/mlp-*"
    assert scoped["PlatformPolicies"] == "arn:aws:iam::123456789012:policy/mlp-*"
    assert scoped["ClusterOidcProviders"].startswith("arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/")
    assert scoped["ServiceLinkedRoles"] == "*" and iam[-1]["Condition"]["StringEquals"]["iam:AWSServiceName"] == list(account.SERVICE_LINKED)
    assert all(s["Action"] != "*" and "iam:*" not in s["Action"] for s in iam)


def test_the_pack_holds_for_the_bootstrap_and_catches_a_wildcard_subject(run) -> None:
    """The platform's pack runs over the bootstrap too: none broken; a trust widened to the repository's every ref is mandatory."""
    assert [v for v in policy_report.evaluate(run) if v.level == "mandatory"] == []
    widened = offline.run()
    role = _one(widened, "aws:iam/role:Role", "ci-deploy")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    trust["Statement"][0]["Condition"] = {"StringLike": {f"{GITHUB}:sub": "repo:example/mlplatform:*"}}
    role.inputs["assumeRolePolicy"] = json.dumps(trust)
    assert [(v.policy, v.level) for v in policy_report.evaluate(widened) if v.level == "mandatory"] == [("github-oidc-trust-scoped", "mandatory")]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"githubRepository": "example/*"}, r"mlplatform-bootstrap:githubRepository = \"example/\*\": not a GitHub repository"),
    ({"deployEnvironments": ["prod*"]}, r"mlplatform-bootstrap:deployEnvironments = \[\"prod\*\"\]: list the GitHub environments"),
    ({"platformPrefix": "MLP"}, r"mlplatform-bootstrap:platformPrefix = \"MLP\": a short lowercase name prefix"),
])
def test_bad_bootstrap_config_is_one_line_naming_the_key(overrides: dict, message: str) -> None:
    """A bad key fails the entry point before anything is declared, in one line naming the key, the value and what is allowed."""
    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=account.PROJECT, stack=offline.STACK, monitor=monitor)
    pulumi.runtime.set_all_config(offline.stack_config(overrides))
    with pytest.raises(pulumi.RunError, match=message) as raised:
        runpy.run_path(str(ROOT / "bootstrap" / "__main__.py"), run_name="__main__")
    assert "\n" not in str(raised.value) and monitor.registrations == []


def test_the_example_repository_is_refused_in_a_real_account() -> None:
    """In any account but the documentation one, the committed example repository stops the program in one line."""
    mocks = PlatformMocks(account="210987654321")
    pulumi.runtime.set_mocks(mocks, project=account.PROJECT, stack=offline.STACK, monitor=RecordingMonitor(mocks))
    pulumi.runtime.set_all_config(offline.stack_config())
    with pytest.raises(pulumi.RunError, match="githubRepository = 'example/mlplatform' is the offline example"):
        runpy.run_path(str(ROOT / "bootstrap" / "__main__.py"), run_name="__main__")
