"""infra/versions.py pins exactly the releases in the upstream sources, and every consumer agrees."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from infra import paths, versions
from infra.components import kserve


def test_every_chart_pin_is_the_upstream_release(upstream: Path) -> None:
    """Each pinned chart's version equals the version in its upstream Chart.yaml (a bump on either side fails)."""
    for chart in versions.CHARTS:
        meta = yaml.safe_load((upstream / chart.upstream_dir / "Chart.yaml").read_text())
        assert meta["name"] == chart.name, chart
        assert str(meta["version"]) == chart.version, f"{chart.name}: pinned {chart.version}, upstream {meta['version']}"


def test_kfp_and_argo_pins_are_the_upstream_release(upstream: Path) -> None:
    """The KFP overlays' refs, the upstream KFP's own appVersion and the Argo ref KFP asks for are the pins."""
    kfp = upstream / versions.KFP_SOURCE.folder / versions.KFP_SOURCE.path
    install = yaml.safe_load((kfp / "base" / "installs" / "generic" / "pipeline-install-config.yaml").read_text())
    assert install["data"]["appVersion"] == versions.KFP_VERSION
    argo_refs = {m for f in kfp.rglob("kustomization.yaml") for m in re.findall(r"argo-workflows/manifests/\S+\?ref=(v[\d.]+)", f.read_text())}
    assert argo_refs == {versions.ARGO_WORKFLOWS_SOURCE.tag}
    overlay_refs = {m for f in paths.KFP_MANIFESTS.rglob("kustomization.yaml") for m in re.findall(r"\?ref=([\w.]+)", f.read_text())}
    assert overlay_refs == {versions.KFP_VERSION}


def test_runtime_keys_are_upstream_runtimes(upstream: Path) -> None:
    """The program disables every runtime upstream ships but MLServer: its list is upstream's list."""
    values = yaml.safe_load((upstream / versions.KSERVE_RUNTIME_CONFIGS.upstream_dir / "values.yaml").read_text())
    runtimes = {key for key, value in values["kserve"]["servingruntime"].items() if isinstance(value, dict) and "disabled" in value}
    assert runtimes == set(kserve.RUNTIME_KEYS)


def test_mlserver_image_is_the_tested_version() -> None:
    """The cluster serves with the MLServer version the demo and the tests run (requirements/ml.txt)."""
    requirements = (paths.ROOT / "requirements" / "ml.txt").read_text()
    assert f"mlserver=={versions.MLSERVER_VERSION}" in requirements
    assert versions.IMAGES["mlserver"].endswith(f":{versions.MLSERVER_VERSION}")
