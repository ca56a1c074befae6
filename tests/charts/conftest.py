"""Helpers for the chart tests: render with the real helm binary and parse."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from infra import versions
from tooling.crd import crd_schema, documents
from tooling.render import helm_binary

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "model-serving"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm with a throwaway home so no user config leaks in."""
    env = {**os.environ, "HELM_CACHE_HOME": "/tmp/helm-cache", "HELM_CONFIG_HOME": "/tmp/helm-config", "HELM_DATA_HOME": "/tmp/helm-data"}
    result = subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=env, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {result.stderr}")
    return result


def render(*values_files: Path, sets: tuple[str, ...] = (), release: str = "fraud", namespace: str = "models") -> list[dict]:
    """helm template the chart and return its objects (tests included)."""
    args = ["template", release, str(CHART), "--namespace", namespace]
    for values in values_files:
        args += ["-f", str(values)]
    for item in sets:
        args += ["--set", item]
    return documents(helm(*args).stdout)


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """Every ci/ scenario rendered once, keyed by scenario name (default, canary, ...)."""
    return {path.name.removesuffix("-values.yaml"): render(path) for path in SCENARIOS}


@pytest.fixture(scope="session")
def isvc_schema() -> dict:
    """KServe's InferenceService v1beta1 schema from the pinned kserve-crd chart, strict."""
    from tooling.render import upstream_root  # it renders with this module's helm

    root = upstream_root()
    if root is None:
        pytest.skip("no upstream sources: ../shared/upstream is absent; run `make upstream` to fetch them into .upstream/")
    crd = root / versions.KSERVE_CRD.upstream_dir / "templates" / "serving.kserve.io_inferenceservices.yaml"
    return crd_schema(crd, "v1beta1")
