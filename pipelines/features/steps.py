"""How a pipeline's feature step runs the feature store's CLI (``python -m pipelines.features.store``): with the
features interpreter, :data:`FEATURES_PYTHON_ENV` when set, else the step's own python (the features image's).

Locally kfp.local runs every step with the ML environment's python (pandas 3.1, no Feast); pipelines/run.py sets
:data:`FEATURES_PYTHON_ENV` to ``.venv-features/bin/python``, so a feature step runs the same command in both places.
Standard library only: the step's own process imports nothing of Feast.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pipelines.features import repo

FEATURES_PYTHON_ENV = "MLPLATFORM_FEATURES_PYTHON"


def run(action: str, feature_store: str, s3_endpoint_url: str, *args: str) -> str:
    """Run ``store <action> --config <feature_store> ARGS``; its output is echoed, its last line returned. A failure
    raises with the CLI's last line and the interpreter it ran under."""
    if not feature_store.strip():
        raise ValueError("feature_store is empty: pass the stack's feature_store.yaml (the program does; locally "
                         "pipelines.run --feature-store) to run the pipeline with feature_source=feast")
    python = os.environ.get(FEATURES_PYTHON_ENV) or sys.executable
    env = dict(os.environ)
    if s3_endpoint_url:
        env.update({name: s3_endpoint_url for name in repo.S3_ENDPOINT_ENVS})
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "feature_store.yaml"
        config.write_text(feature_store)
        done = subprocess.run([python, "-m", "pipelines.features.store", action, "--config", str(config), *args],
                              env=env, check=False, capture_output=True, text=True)
    print(done.stdout + done.stderr, flush=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"feature store {action} failed under {python}: {last} (locally, {FEATURES_PYTHON_ENV} "
                           "must name the features environment's python, .venv-features/bin/python)")
    return (done.stdout.strip().splitlines() or [""])[-1]
