"""Benchmark: the GPU option's train step (XGBoost, ``device="cuda"``) on a real GPU, beside the same fit on the CPU.

    .venv-ml/bin/python benchmarks/gpu_training.py [--rows 200000]

Runs the train step's own function (``components.train.python_func``, the code the GPU pipeline's step runs) on
generated data, once with the GPU and once with it hidden (``CUDA_VISIBLE_DEVICES=""``, a subprocess), and prints
each fit's seconds, device and CV ROC AUC. Without a visible GPU it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.fraud import estimators  # noqa: E402


def fit(rows: int) -> dict:
    """One train step on ``rows`` generated rows, as the pipeline runs it; seconds, device and score."""
    from kfp.dsl import Dataset, Model

    from pipelines.fraud import components
    from pipelines.fraud.contract import as_parameter
    from pipelines.fraud.data import generate

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "train.csv"
        generate(rows).to_csv(data, index=False)
        train = Dataset(uri=str(data))
        train.path = str(data)
        model, reference = Model(uri=f"{tmp}/model"), Dataset(uri=f"{tmp}/reference")
        model.path, reference.path = f"{tmp}/model.pkl", f"{tmp}/reference.csv"
        started = time.perf_counter()
        result = components.train.python_func(train_data=train, contract=as_parameter(), param_grid=estimators.XGBOOST_PARAM_GRID,
                                               seed=42, reference_rows=1000, search_rows=components.SEARCH_ROWS, model=model, reference=reference,
                                               estimator=estimators.GPU)
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "device": model.metadata["device"], "cv_roc_auc": round(result.cv_roc_auc, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="generated training rows (default 200000)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # one fit, as JSON (the CPU subprocess)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(fit(args.rows)))
        return 0
    gpus = estimators.visible_gpus()
    if not gpus:
        print("SKIPPED: no visible CUDA GPU (NVIDIA driver and device); run this on a GPU node to time the GPU train step")
        return 0
    on_gpu = fit(args.rows)
    command = [sys.executable, __file__, "--rows", str(args.rows), "--one"]
    done = subprocess.run(command, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, check=True)
    on_cpu = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"train step, XGBoost, {args.rows} rows, {len(estimators.XGBOOST_PARAM_GRID['learning_rate']) * 2} grid points x 3 folds:")
    for name, run in (("GPU", on_gpu), ("CPU", on_cpu)):
        print(f"  {name}: {run['seconds']:8.2f} s  device {run['device']:4}  CV ROC AUC {run['cv_roc_auc']}")
    print(f"  GPU speed-up: {on_cpu['seconds'] / on_gpu['seconds']:.1f}x ({gpus} GPU visible)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
