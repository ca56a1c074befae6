"""Shared fixtures: each stack's program run once under mocks per session."""

from __future__ import annotations

import pytest

from infra import offline


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, offline.OfflineRun]:
    """Every stack's resource graph, keyed by stack name."""
    return {stack: offline.run(stack) for stack in offline.STACKS}


@pytest.fixture(params=offline.STACKS)
def stack_run(request: pytest.FixtureRequest, stack_runs: dict[str, offline.OfflineRun]) -> offline.OfflineRun:
    """One stack's resource graph (parametrised over every stack)."""
    return stack_runs[request.param]


@pytest.fixture(params=[s for s in offline.STACKS if s != "local"])
def aws_run(request: pytest.FixtureRequest, stack_runs: dict[str, offline.OfflineRun]) -> offline.OfflineRun:
    """The resource graph of one AWS stack."""
    return stack_runs[request.param]
