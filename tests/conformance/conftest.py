"""Fixtures of the conformance suite: every stack's objects as a real `pulumi up` would apply them.

Needs the upstream sources (``../shared/upstream``, or ``.upstream`` from ``make upstream``);
without them every test here skips with one line saying so, unless MLPLATFORM_REQUIRE_UPSTREAM is
set (CI): then each fails, so that a CI run can never pass with the conformance suite skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.infra.conftest import RUNS, stack_runs  # noqa: F401 - the shared session fixture
from tooling import offline, render

REQUIRE_UPSTREAM = "MLPLATFORM_REQUIRE_UPSTREAM"
SKIP_REASON = "no upstream sources: ../shared/upstream is absent; run `make upstream` to fetch them into .upstream/"


def upstream_or_skip() -> Path:
    """The upstream root; without one, skip (or fail where MLPLATFORM_REQUIRE_UPSTREAM is set)."""
    root = render.upstream_root()
    if root is None:
        if os.environ.get(REQUIRE_UPSTREAM):
            pytest.fail(f"{REQUIRE_UPSTREAM} is set and {SKIP_REASON}")
        pytest.skip(SKIP_REASON)
    return root


@pytest.fixture(scope="session")
def upstream() -> Path:
    """The upstream root holding every pinned release."""
    return upstream_or_skip()


@pytest.fixture(scope="session")
def stack_objects(upstream: Path, stack_runs: dict[str, offline.OfflineRun]) -> dict[str, list[render.Rendered]]:  # noqa: F811
    """Every stack's final objects, keyed by stack."""
    return {stack: render.stack_objects(run, upstream) for stack, run in stack_runs.items()}


@pytest.fixture(params=RUNS)
def stack(request: pytest.FixtureRequest) -> str:
    """One stack's name (parametrised over every stack and option variant)."""
    return request.param
