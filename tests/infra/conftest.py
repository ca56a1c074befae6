"""Shared fixtures: each stack's program run once under mocks per session."""

from __future__ import annotations

import pytest

from infra import offline

# What the deploy workflow passes once it has pushed the step image (pipelines/Dockerfile).
STEP_IMAGE = {"pipelineStepImageDigest": "sha256:" + "5e" * 32}


@pytest.fixture(scope="session")
def step_image() -> dict[str, str]:
    """The config override the deploy workflow passes once it has pushed the step image."""
    return dict(STEP_IMAGE)


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, offline.OfflineRun]:
    """Every stack's resource graph as the deploy workflow applies it (step image digest given), keyed by stack name."""
    return {stack: offline.run(stack, STEP_IMAGE) for stack in offline.STACKS}


@pytest.fixture(params=offline.STACKS)
def stack_run(request: pytest.FixtureRequest, stack_runs: dict[str, offline.OfflineRun]) -> offline.OfflineRun:
    """One stack's resource graph (parametrised over every stack)."""
    return stack_runs[request.param]


@pytest.fixture(params=[s for s in offline.STACKS if s != "local"])
def aws_run(request: pytest.FixtureRequest, stack_runs: dict[str, offline.OfflineRun]) -> offline.OfflineRun:
    """The resource graph of one AWS stack."""
    return stack_runs[request.param]
