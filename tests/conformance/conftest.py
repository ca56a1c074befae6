"""Fixtures of the conformance suite: every stack's objects as a real `pulumi up` would apply them.

Needs the upstream sources (``../shared/upstream``, or ``.upstream`` from ``make upstream``);
without them every test here skips with one line saying so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.conftest import RUNS, stack_runs  # noqa: F401 - the shared session fixture
from tooling import offline, render

SKIP_REASON = "no upstream sources: ../shared/upstream is absent; run `make upstream` to fetch them into .upstream/"


@pytest.fixture(scope="session")
def upstream() -> Path:
    """The upstream root holding every pinned release."""
    root = render.upstream_root()
    if root is None:
        pytest.skip(SKIP_REASON)
    return root


@pytest.fixture(scope="session")
def stack_objects(upstream: Path, stack_runs: dict[str, offline.OfflineRun]) -> dict[str, list[render.Rendered]]:  # noqa: F811
    """Every stack's final objects, keyed by stack."""
    return {stack: render.stack_objects(run, upstream) for stack, run in stack_runs.items()}


@pytest.fixture(params=RUNS)
def stack(request: pytest.FixtureRequest) -> str:
    """One stack's name (parametrised over every stack and option variant)."""
    return request.param
