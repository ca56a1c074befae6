"""The model server image in the program: its own ECR repository, looked up by content tag, pinned by digest into the
kserve-mlserver runtime, or the runtime disabled while it is not pushed (pipelines/serving_image.py)."""

from __future__ import annotations

import hashlib

import pytest

from infra.components import kserve
from pipelines import serving_image
from tooling import offline


def _runtime(run: offline.OfflineRun) -> dict:
    (release,) = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"].endswith("kserve-runtime-configs")]
    return release.inputs["values"]["kserve"]["servingruntime"]["mlserver"]


def test_runtime_image_digest_is_the_pushed_images_without_config() -> None:
    """Without servingImageDigest an AWS stack pins the digest ECR answers for this checkout's content tag; not pushed,
    the runtime stays disabled (the stock image cannot load the models) and the output says why."""
    run = offline.run("staging")
    repository = run.outputs["servingImageRepository"]
    tag = serving_image.content_tag()
    digest = "sha256:" + hashlib.sha256(f"{repository.rsplit('/', 1)[1]}:{tag}".encode()).hexdigest()
    assert run.outputs["servingImage"] == f"{repository}:{tag}@{digest}"
    unpushed = offline.run("staging", step_image_pushed=False)
    assert _runtime(unpushed)["disabled"] is True and "image" not in _runtime(unpushed)
    assert _runtime(run)["disabled"] is False and f"{_runtime(run)['image']}:{_runtime(run)['tag']}" == run.outputs["servingImage"]
    assert unpushed.outputs["servingImage"].startswith("not deployed:") and tag in unpushed.outputs["servingImage"]


def test_local_stack_needs_the_digest_set() -> None:
    """The local stack has no registry to ask: without servingImageDigest its runtime is disabled, with it the runtime
    runs the local registry's image by that digest."""
    assert _runtime(offline.run("local"))["disabled"] is True
    digest = "sha256:" + "ab" * 32
    runtime = _runtime(offline.run("local", {"servingImageDigest": digest}))
    assert (runtime["image"], runtime["tag"]) == (serving_image.LOCAL_REPOSITORY, f"{serving_image.content_tag()}@{digest}")


def test_runtime_image_refuses_a_digest_that_is_not_one() -> None:
    """A malformed digest is refused in one line, in the settings and in the runtime's image."""
    with pytest.raises(ValueError, match="not sha256:<64 hex digits>"):
        kserve.runtime_image("repo", "src-0", "sha256:abc")
    with pytest.raises(Exception, match="servingImageDigest.*not an image digest"):
        offline.settings_of("staging", {"servingImageDigest": "latest"})
