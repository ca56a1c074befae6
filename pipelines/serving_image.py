"""The model server image: what KServe's ``kserve-mlserver`` runtime runs for the platform's models.

Built from ``serving/Dockerfile`` with ``requirements/serving.lock`` only, which ``make lock`` compiles with
``-c requirements/ml.lock``: the Python minor, numpy, scikit-learn, scipy, joblib, pandas and MLServer the
pipelines train with (MLServer's own image has Python 3.10 and numpy 1.26, which cannot unpickle the models).
The deploy workflow pushes it under its content tag (scripts/publish_image.sh serving); the program pins the
platform's runtime to it by digest (infra/components/kserve.py); the register step tags each model version
with the content tag (:data:`MODEL_TAG`), and promotion refuses a model whose recorded requirements the
image's lock does not have (pipelines/promote.py).

Only the standard library at import time: the program (infra/) reads the names and the tag.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pipelines import image

IMAGE_NAME = "mlplatform-model-server"
# The local stack's registry (kind's documented local registry on port 5001), as for the step image.
LOCAL_REPOSITORY = f"localhost:5001/{IMAGE_NAME}"
ROOT = image.ROOT
DOCKERFILE = "serving/Dockerfile"
LOCK = "requirements/serving.lock"
TRAINING_LOCK = "requirements/ml.lock"
# Everything the image is built from, relative to the repository root (its content tag hashes these).
IMAGE_SOURCES = (DOCKERFILE, LOCK)
# Where the image's CMD (`mlserver start`) finds the model: KServe's storage initializer downloads it there.
MODELS_DIR = "/mnt/models"
# The model-version tag that names the serving image a model was registered for (its content tag).
MODEL_TAG = "serving_image"
# What must be the training version in the image: unpickling and scoring the model, and the server the tests use.
LOCKSTEP = ("numpy", "scikit-learn", "scipy", "joblib", "pandas", "xgboost", "mlserver", "mlserver-sklearn")
# MLflow writes itself into every model's requirements; the image loads model.pkl with MLServer's scikit-learn
# runtime, never through MLflow, so the image has no MLflow.
NOT_SERVED = frozenset({"mlflow"})

_LOCKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
_BASE = re.compile(r"^FROM\s+\S*/python:(\d+)\.(\d+)\.(\d+)\S*\s*$", re.MULTILINE)


def content_tag(root: Path = ROOT) -> str:
    """``src-<16 hex>`` of the Dockerfile and the lock: the tag the image is pushed under, and the models' tag."""
    return image.content_tag(root, IMAGE_SOURCES)


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Scikit_Learn`` is ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def base_python(dockerfile: str) -> str:
    """The full Python version of the image's ``FROM .../python:<x.y.z>...`` base."""
    match = _BASE.search(dockerfile)
    if match is None:
        raise ValueError("the Dockerfile has no `FROM .../python:<major>.<minor>.<patch>...` base")
    return ".".join(match.groups())


def locked_versions(lock: str, python: str) -> dict[str, str]:
    """``{name: version}`` of a ``uv pip compile --universal`` lock for Linux x86-64 CPython ``python`` (markers evaluated)."""
    from packaging.markers import Marker

    environment = {
        "python_full_version": python, "python_version": ".".join(python.split(".")[:2]), "sys_platform": "linux",
        "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
        "platform_python_implementation": "CPython", "implementation_name": "cpython",
    }
    versions: dict[str, str] = {}
    for line in lock.splitlines():
        match = _LOCKED.match(line.strip())
        if match and (match.group(3) is None or Marker(match.group(3)).evaluate(environment)):
            versions[normalize(match.group(1))] = match.group(2)
    return versions


def lockstep_differences(training: dict[str, str], serving: dict[str, str]) -> list[str]:
    """One line per :data:`LOCKSTEP` package whose serving version is not the training one (none: they agree)."""
    return [f"{name} {serving.get(name, '(missing)')} in {LOCK}, {training.get(name, '(missing)')} in {TRAINING_LOCK}"
            for name in LOCKSTEP if serving.get(name) != training.get(name)]


def requirement_differences(requirements: str, serving: dict[str, str]) -> list[str]:
    """One line per requirement of a model (its ``requirements.txt``: ``name==version`` lines) that the serving lock
    does not have at that version; MLflow itself (:data:`NOT_SERVED`) is not served."""
    differences = []
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LOCKED.match(line)
        if match is None:
            differences.append(f"{line} (not pinned with ==)")
            continue
        name, version = normalize(match.group(1)), match.group(2)
        if name not in NOT_SERVED and serving.get(name) != version:
            differences.append(f"{name}=={version} (the serving image has {serving.get(name, 'none')})")
    return differences


def serving_versions(root: Path = ROOT) -> dict[str, str]:
    """The serving image's package versions: its lock, for its base's Python."""
    return locked_versions((root / LOCK).read_text(), base_python((root / DOCKERFILE).read_text()))


if __name__ == "__main__":
    if sys.argv[1:] != ["tag"]:
        sys.exit("usage: python -m pipelines.serving_image tag   (prints the serving image's content tag)")
    print(content_tag())
