"""The training step's estimators: scikit-learn's histogram gradient boosting (the default, on the CPU nodes) and
XGBoost, the GPU option: ``device="cuda"`` where the step sees a GPU, the same model on the CPU otherwise.

Standard library only at import (the step image and the local ML environment both import it); the
estimators' own packages are imported when one is built.
"""

from __future__ import annotations

import ctypes

DEFAULT = "hist-gradient-boosting"
# The estimator whose train step the pipeline places on the GPU groups (pipelines/fraud/pipeline.py).
GPU = "xgboost"
ESTIMATORS = (DEFAULT, GPU)
# OpenMP threads that wait for a descheduled peer sleep instead of spinning: on a busy node, spinning made a 2-thread
# fit 3-10x slower than a 1-thread one. OpenMP reads it when it loads: the train step sets it before scikit-learn
# loads, and so does the local step server before it preloads scikit-learn (pipelines/step_server.py).
OPENMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
# XGBoost's grid: the same search size as the default's (pipelines/fraud/pipeline.py DEFAULT_PARAM_GRID).
XGBOOST_PARAM_GRID = {"learning_rate": [0.05, 0.1], "max_depth": [4, 6], "n_estimators": [150]}


def visible_gpus() -> int:
    """CUDA devices this process may use, as the NVIDIA driver counts them; 0 without a driver or a device."""
    for library in ("libcuda.so.1", "libcuda.so"):
        try:
            cuda = ctypes.CDLL(library)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


def device() -> str:
    """Where XGBoost trains here: ``cuda`` with a visible GPU, else ``cpu`` (no fallback warnings from XGBoost)."""
    return "cuda" if visible_gpus() else "cpu"


def classifier(estimator: str, seed: int, threads: int):
    """The untrained classifier for ``estimator``; an unknown name is refused with the ones there are."""
    if estimator == DEFAULT:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(random_state=seed)
    if estimator == GPU:
        from xgboost import XGBClassifier

        return XGBClassifier(tree_method="hist", device=device(), random_state=seed, n_jobs=threads, eval_metric="logloss")
    raise ValueError(f"estimator {estimator!r} is not one of {list(ESTIMATORS)}; set the pipeline's estimator parameter to one")


def framework(estimator: str) -> tuple[str, str]:
    """The (name, version) of the package that fits ``estimator``, for the model's metadata."""
    from importlib import metadata

    name = "xgboost" if estimator == GPU else "scikit-learn"
    return name, metadata.version(name)
