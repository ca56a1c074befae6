"""Files the program hands to the engine, resolved from this source tree, not the working directory.

The Pulumi engine runs a program whose ``main`` is a folder (``main: infra/``) with that folder as
its working directory, while tests and the offline tools run from the repository root. Paths are
therefore found from ``__file__`` and given to the provider relative to the current working
directory: ``../charts/model-serving`` under the engine, ``charts/model-serving`` from the root.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVING_CHART = ROOT / "charts" / "model-serving"
KFP_MANIFESTS = ROOT / "infra" / "manifests" / "kubeflow-pipelines"


def for_engine(path: Path) -> str:
    """``path`` as the provider should see it: relative to the working directory the program runs in."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the source tree")
    return os.path.relpath(path, Path.cwd())
