"""The images the deployed pipelines run, by digest: the step image (pipelines/image.py) and the features step image
(pipelines/features/image.py). On AWS the AWS layer's digests (config's, else the image pushed under this checkout's
content tag); elsewhere config's (``pipelineStepImageDigest``, ``pipelineFeatureImageDigest``)."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.preview import unknown
from pipelines import image
from pipelines.features import image as feature_image

# (what it is, image module, stack output of its repository, config key, publish command) per image the pipelines run.
IMAGES = {
    "steps": ("step image", image, "stepImageRepository", "pipelineStepImageDigest", "scripts/publish_step_image.sh"),
    "features": ("features step image", feature_image, "featureImageRepository", "pipelineFeatureImageDigest",
                 "scripts/publish_image.sh features"),
}


def pinned(settings: Any, aws: Any) -> tuple[dict[str, pulumi.Output[str]] | None, str]:
    """``{"steps": ref, "features": ref}`` by digest, or None and why the pipelines cannot be deployed yet. In a
    preview on AWS an image not pushed yet is unknown (the pipelines stay in the graph, never shown as removed)."""
    digests = {"steps": aws.step_image_digest if aws else settings.pipelines.step_image_digest,
               "features": aws.feature_image_digest if aws else settings.pipelines.feature_image_digest}
    repositories = {"steps": aws.step_image_repository if aws else None,
                    "features": aws.feature_image_repository if aws else None}
    found: dict[str, pulumi.Output[str]] = {}
    for kind, (label, module, output, key, publish) in IMAGES.items():
        digest = digests[kind]
        if digest:
            repository = repositories[kind] or pulumi.Output.from_input(module.LOCAL_REPOSITORY)
            found[kind] = repository.apply(lambda repo, d=digest: image.reference(repo, d))
        elif aws is not None and pulumi.runtime.is_dry_run():
            pulumi.log.info(f"{label} {module.content_tag()} is not pushed yet: its digest is unknown in this preview")
            found[kind] = unknown()
        else:
            where = (f"this stack's ECR repository (output {output}) under tag {module.content_tag()} (the deploy "
                     f"workflow does: {publish}), or set mlplatform:{key}" if aws else
                     f"{module.LOCAL_REPOSITORY} and set mlplatform:{key} to its digest")
            return None, f"not deployed: no {label} yet; build it, push it to {where}"
    return found, ""
