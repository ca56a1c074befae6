"""Fixtures of the monitoring tests: Debian's promtool and amtool, and what a stack renders for Prometheus and Alertmanager.

CI installs the tools (`make test` installs Debian's prometheus and prometheus-alertmanager as root, as
`check-kfp-mysql-tls` installs its packages). Without them a test skips with one line saying so, unless
MLPLATFORM_REQUIRE_UPSTREAM is set (CI): then it fails, so that CI never passes with the rules untested.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conformance.conftest import REQUIRE_UPSTREAM, upstream_or_skip
from tooling import offline, render

ROOT = Path(__file__).resolve().parents[2]
RULE_TESTS = sorted((ROOT / "tests" / "rules").glob("*.yaml"))
# The release whose rules are upstream's (kubernetes-mixin's, tested there): the MonitoringStack's; every other is the platform's.
UPSTREAM_RULES_SOURCE = "mlplatform:k8s:MonitoringStack$kubernetes:helm.sh/v3:Release"


def tool(name: str, package: str) -> str:
    """The path of a Debian tool; skip (or fail under MLPLATFORM_REQUIRE_UPSTREAM) without it."""
    found = shutil.which(name)
    if not found:
        reason = f"no {name}: install Debian's {package} (`make test` does, as root)"
        if os.environ.get(REQUIRE_UPSTREAM):
            pytest.fail(f"{REQUIRE_UPSTREAM} is set and {reason}")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    return tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def amtool() -> str:
    return tool("amtool", "prometheus-alertmanager")


def rendered(run: offline.OfflineRun) -> list[render.Rendered]:
    """Every object of ``run``'s stack as `pulumi up` would apply it (releases rendered at their pins)."""
    return render.stack_objects(run, upstream_or_skip())


def prometheus_rules(objects: list[render.Rendered]) -> tuple[list[dict], list[dict]]:
    """The rule groups of the stack's PrometheusRules: (the platform's own, kube-prometheus-stack's default ones)."""
    own: list[dict] = []
    upstream: list[dict] = []
    for item in objects:
        if item.obj.get("kind") == "PrometheusRule":
            (upstream if UPSTREAM_RULES_SOURCE in item.source else own).extend(item.obj["spec"]["groups"])
    return own, upstream


@pytest.fixture(scope="session")
def staging_objects() -> list[render.Rendered]:
    """The staging stack's objects."""
    return rendered(offline.run("staging"))
