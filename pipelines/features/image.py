"""The features step image: the pipeline steps that call Feast (the training set through ``get_historical_features``,
materialization into the online store) run in it. Its own image because Feast 0.66.0 needs pandas < 3 while the step
image has the ML environment's pandas 3.1: built from ``pipelines/features/Dockerfile`` with ``requirements/features.lock``
on the step image's pinned base.

Named, tagged and pinned as the step image is (pipelines/image.py owns the scheme): the compiled pipelines name
:data:`COMPILED_IMAGE`, the deploy workflow pushes the image under its content tag (scripts/publish_image.sh features),
and the program swaps in the environment's image by digest. Standard library only: the program reads it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines import image

IMAGE_NAME = "mlplatform-feature-steps"
# What the committed, compiled pipelines name for a feature step; the program swaps in the environment's pinned image.
COMPILED_IMAGE = f"{IMAGE_NAME}:compiled"
# The local stack's registry, as for the step image.
LOCAL_REPOSITORY = f"localhost:5001/{IMAGE_NAME}"
ROOT = image.ROOT
DOCKERFILE = "pipelines/features/Dockerfile"
LOCK = "requirements/features.lock"
# What the image is built from, relative to the repository root (a test checks the Dockerfile's COPY lines name
# exactly these): the feature store's CLI (pipelines.features.store) and what it imports.
IMAGE_SOURCES = (
    DOCKERFILE,
    LOCK,
    "pipelines/__init__.py",
    "pipelines/features/",
    "pipelines/fraud/__init__.py",
    "pipelines/fraud/contract.py",
)


def content_tag(root: Path = ROOT) -> str:
    """``src-<16 hex>`` of everything the image is built from (pipelines/image.py's scheme)."""
    return image.content_tag(root, IMAGE_SOURCES)


if __name__ == "__main__":
    if sys.argv[1:] != ["tag"]:
        sys.exit("usage: python -m pipelines.features.image tag   (prints the features step image's content tag)")
    print(content_tag())
