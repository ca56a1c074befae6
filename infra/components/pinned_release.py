"""A Helm release of a chart pinned in infra/versions.py: its name, version and repository in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.versions import Chart


def pinned_release(
    name: str, chart: Chart, namespace: str, values: pulumi.Input[dict[str, Any]], parent: pulumi.Resource, release_name: str = "",
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.helm.v3.Release:
    """``chart`` at its pin in ``namespace`` (an oci:// chart has no repository), as a child of ``parent``, after ``depends_on``."""
    return k8s.helm.v3.Release(
        name,
        name=release_name or None,
        chart=chart.chart,
        version=chart.version,
        repository_opts={"repo": chart.repo} if chart.repo else None,
        namespace=namespace,
        values=values,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
