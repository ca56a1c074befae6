"""Shared fixtures: each stack's program run once under mocks per session."""

from __future__ import annotations

import pytest

from tooling import offline

# The digests of the step image (pipelines/Dockerfile) and the model server image (serving/Dockerfile) as a stack
# file sets them (the local stack must; on AWS they override the program's lookup of the pushed images).
STEP_IMAGE = {"pipelineStepImageDigest": "sha256:" + "5e" * 32, "servingImageDigest": "sha256:" + "5f" * 32}


@pytest.fixture(scope="session")
def step_image() -> dict[str, str]:
    """The config override the deploy workflow passes once it has pushed the step image."""
    return dict(STEP_IMAGE)


# Options no committed stack turns on, run like a stack ("<stack>+<option>") so that the conformance
# suite renders and checks what they install.
VARIANTS = {
    "staging+argocd": ("staging", {"gitops": "argocd", "gitopsRepoUrl": "https://github.com/example/mlplatform.git"}),
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
