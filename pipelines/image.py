"""The pipeline step image: one image for every step of every pipeline, built from
``pipelines/Dockerfile`` with the steps' locked dependencies (``requirements/steps.lock``).

No dependencies: the pipelines, the program (infra/) and the deploy workflow all read it.

The compiled pipelines name :data:`COMPILED_IMAGE`, a placeholder that cannot be pulled; the program
replaces it with the environment's image by digest (:func:`pin`), and refuses a spec that would
still run an image without one. Steps install nothing at run time.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping
from pathlib import Path

IMAGE_NAME = "mlplatform-pipeline-steps"
# What the committed, compiled pipelines name; the program swaps in the environment's pinned image.
COMPILED_IMAGE = f"{IMAGE_NAME}:compiled"
# The local stack's registry (kind's documented local registry on port 5001): `make step-image
# IMAGE=localhost:5001/mlplatform-pipeline-steps:dev && docker push ...`, then set the digest.
LOCAL_REPOSITORY = f"localhost:5001/{IMAGE_NAME}"
# The folder the image puts the project's `pipelines` package in (on its PYTHONPATH).
IMAGE_SOURCE_ROOT = "/opt/mlplatform"

ROOT = Path(__file__).resolve().parent.parent
# What the image is built from, relative to the repository root: the Dockerfile, the lock, and the
# parts of the package it copies (a test checks the Dockerfile's COPY lines name exactly these).
IMAGE_SOURCES = (
    "pipelines/Dockerfile",
    "requirements/steps.lock",
    "pipelines/__init__.py",
    "pipelines/cluster.py",
    "pipelines/image.py",
    "pipelines/mlflow_server.py",
    "pipelines/serving_image.py",
    "pipelines/fraud/",
    "pipelines/drift/",
    "pipelines/features/__init__.py",
    "pipelines/features/repo.py",
    "pipelines/features/transforms.py",
)

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PINNED = re.compile(r"^[a-z0-9][a-z0-9.:/_-]*@sha256:[0-9a-f]{64}$")
_IMAGE_LINE = re.compile(r"^(\s*image:\s*)(\S+)\s*$", re.MULTILINE)


def reference(repository: str, digest: str, what: str = "step image") -> str:
    """``<repository>@sha256:...``; a digest that is not ``sha256:<64 hex>`` is refused."""
    if not DIGEST.match(digest):
        raise ValueError(f"{what} digest {digest!r} is not sha256:<64 hex digits> (as `docker buildx build --push` prints it)")
    return f"{repository}@{digest}"


def images(spec: str) -> list[str]:
    """Every image a compiled pipeline spec names, in order."""
    return [match.group(2) for match in _IMAGE_LINE.finditer(spec)]


def pin(spec: str, image: str, others: Mapping[str, str] | None = None) -> str:
    """The compiled spec with every step running ``image`` (which must carry a digest); ``others`` maps another
    image's compiled placeholder to its pinned reference (the features step image: pipelines/features/image.py)."""
    swaps = {COMPILED_IMAGE: image, **(others or {})}
    for placeholder, reference in swaps.items():
        if not _PINNED.match(reference):
            raise ValueError(f"image {reference!r} for {placeholder} is not pinned by digest (<repository>@sha256:<64 hex>)")
    if COMPILED_IMAGE not in images(spec):
        raise ValueError(f"the spec names no {COMPILED_IMAGE} step: was it compiled by pipelines/compile.py?")
    pinned = _IMAGE_LINE.sub(lambda m: m.group(1) + swaps.get(m.group(2), m.group(2)), spec)
    loose = [name for name in images(pinned) if not _PINNED.match(name)]
    if loose:
        raise ValueError(f"the spec still runs images without a digest: {sorted(set(loose))}")
    return pinned


def content_tag(root: Path = ROOT, sources: tuple[str, ...] = IMAGE_SOURCES) -> str:
    """``src-<16 hex>``: a hash of everything the image is built from (``sources``, the step image's by default). The
    deploy workflow pushes the image under this (immutable) tag once, and reuses its digest while none of them changes."""
    digest = hashlib.sha256()
    for source in sources:
        path = root / source
        files = sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts) if source.endswith("/") else [path]
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return f"src-{digest.hexdigest()[:16]}"


if __name__ == "__main__":
    if sys.argv[1:] != ["tag"]:
        sys.exit("usage: python -m pipelines.image tag   (prints the step image's content tag)")
    print(content_tag())
