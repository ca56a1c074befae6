"""The vendored ESO CRDs (tooling/vendored_crds.py): exactly the kinds the program declares, and the bundle's own text."""

from __future__ import annotations

import hashlib

import pytest

from infra import versions
from tooling import offline, render, vendored_crds

GROUPS = ("external-secrets.io", "generators.external-secrets.io")


def _bundle() -> str | None:
    source = versions.EXTERNAL_SECRETS_CRDS
    found = [root / source.folder / source.path / "bundle.yaml" for root in render.UPSTREAM_ROOTS]
    return next((path.read_text() for path in found if path.exists()), None)


def test_vendored_crds_equal_the_bundles() -> None:
    """Provenance: the vendored file is the pinned bundle's CRDs verbatim, and its header names that bundle's sha256."""
    bundle = _bundle()
    if bundle is None:
        pytest.skip("ESO's deploy/crds/bundle.yaml is in no upstream root (`make upstream` fetches it); provenance not checkable here")
    text = vendored_crds.VENDORED.read_text()
    assert vendored_crds.bundle_sha(text) == hashlib.sha256(bundle.encode()).hexdigest(), "the bundle changed: regenerate the file"
    assert text == vendored_crds.vendored_text(bundle), "regenerate with `python -m tooling.vendored_crds <bundle>`"


def test_vendored_crds_are_exactly_the_kinds_the_program_declares(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Every ESO kind any stack declares has a vendored CRD (with its version served), and nothing else is vendored."""
    used = {(r.type.split(":")[1].rsplit("/", 1)[0], r.type.split(":")[1].rsplit("/", 1)[1], r.type.split(":")[2])
            for run in stack_runs.values() for r in run.resources
            if r.type.startswith("kubernetes:") and r.type.split(":")[1].rsplit("/", 1)[0] in GROUPS}
    vendored = {(c["spec"]["group"], v["name"], c["spec"]["names"]["kind"]) for c in vendored_crds.load() for v in c["spec"]["versions"]
                if v["served"]}
    assert used and used <= vendored, f"declared but not vendored: {sorted(used - vendored)}"
    assert {kind for _, _, kind in used} == {c["spec"]["names"]["kind"] for c in vendored_crds.load()}


def test_a_wrong_bundle_is_refused() -> None:
    """A bundle without one of the kinds (another release) fails with the CRD it lacks."""
    with pytest.raises(ValueError, match="passwords.generators.external-secrets.io"):
        vendored_crds.selected(vendored_crds.VENDORED.read_text().rsplit("\n---\n", 1)[0])
