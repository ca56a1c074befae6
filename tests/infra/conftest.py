"""Shared fixtures: each stack's program run once under mocks per session."""

from __future__ import annotations

import pytest

from tooling import offline

# The digests of the step image (pipelines/Dockerfile) and the model server image (serving/Dockerfile) as a stack
# file sets them (the local stack must; on AWS they override the program's lookup of the pushed images).
STEP_IMAGE = {"pipelineStepImageDigest": "sha256:" + "5e" * 32, "servingImageDigest": "sha256:" + "5f" * 32,
              "pipelineFeatureImageDigest": "sha256:" + "6e" * 32}


@pytest.fixture(scope="session")
def step_image() -> dict[str, str]:
    """The config override the deploy workflow passes once it has pushed the step image."""
    return dict(STEP_IMAGE)


# The sign-in option as a stack file sets it (README "Signing in to the UIs"); the secret as `pulumi config set --secret` leaves it.
SSO = {
    "sso": True, "ssoDomain": "ui.staging.example.com",
    "ssoCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666",
    "ssoIssuerUrl": "https://login.example.com/realms/platform", "ssoClientId": "mlplatform-staging",
    "ssoClientSecret": {"secure": "client-secret-of-the-test"}, "ssoEmailDomains": ["example.com"],
}

# Options no committed stack turns on, run like a stack ("<stack>+<option>") so that the conformance
# suite renders and checks what they install.
VARIANTS = {
    "staging+argocd": ("staging", {"gitops": "argocd", "gitopsRepoUrl": "https://github.com/example/mlplatform.git"}),
    # Every UI behind sign-in (Argo CD's too), the client secret given as a Pulumi secret.
    "staging+sso": ("staging", {"gitops": "argocd", "gitopsRepoUrl": "https://github.com/example/mlplatform.git", **SSO}),
    # The model served on a GPU (an XGBoost model on the GPU runtime, on the gpu/gpu-spot groups).
    "staging+gpu-serving": ("staging", {"servingGpu": True}),
}
RUNS = (*offline.STACKS, *VARIANTS)


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, offline.OfflineRun]:
    """Every stack's (and variant's) resource graph as the deploy workflow applies it (step image digest given)."""
    runs = {stack: offline.run(stack, STEP_IMAGE) for stack in offline.STACKS}
    return runs | {name: offline.run(stack, {**STEP_IMAGE, **options}) for name, (stack, options) in VARIANTS.items()}


@pytest.fixture(params=offline.STACKS)
def stack_run(request: pytest.FixtureRequest, stack_runs: dict[str, offline.OfflineRun]) -> offline.OfflineRun:
    """One stack's resource graph (parametrised over every stack)."""
    return stack_runs[request.param]


@pytest.fixture(params=[s for s in offline.STACKS if s != "local"])
def aws_run(request: pytest.FixtureRequest, stack_runs: dict[str, offline.OfflineRun]) -> offline.OfflineRun:
    """The resource graph of one AWS stack."""
    return stack_runs[request.param]
