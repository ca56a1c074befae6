"""Benchmark: an XGBoost model served by the platform's runtime on a real GPU, beside the same server with the GPU hidden.

    .venv-ml/bin/python benchmarks/gpu_serving.py [--rows 200000] [--requests 50]

Fits the GPU option's estimator (pipelines/fraud/estimators.py, the grid's larger point: 150 trees of depth 6) on
generated rows, lays it out as KServe's storage initializer leaves a registered model (model.pkl and the runtime it
carries, pipelines/serving_runtime.py), and starts MLServer on it twice: with the GPU visible, then with
``CUDA_VISIBLE_DEVICES=""``. For V2 requests of 1, 1,000 and 7,000 rows (7,000: about the runtime's 1 MiB body limit)
it prints the device the model reports (V2 metadata ``parameters.device``) and the median and p95 latency over HTTP.
Without a visible GPU it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.fraud import estimators  # noqa: E402

BATCHES = (1, 1_000, 7_000)


def fitted(rows: int):
    """The GPU option's model on ``rows`` generated rows (fitted on the GPU where one is visible), and held-out rows."""
    from sklearn.pipeline import Pipeline

    from pipelines.fraud.contract import FEATURES, LABEL
    from pipelines.fraud.data import generate

    frame = generate(rows)
    classifier = estimators.classifier(estimators.GPU, seed=0, threads=4).set_params(n_estimators=150, max_depth=6)
    model = Pipeline([("classifier", classifier)]).fit(frame[FEATURES].to_numpy(dtype=float), frame[LABEL])
    return model, generate(max(BATCHES), seed=11)[FEATURES].to_numpy(dtype=float)


def model_dir(model, target: Path) -> Path:
    """``model`` as KServe's storage initializer leaves a registered one: model.pkl and the runtime it carries in code/."""
    import json
    import shutil

    import joblib

    from pipelines.cluster import SERVING_CODE_DIR
    from pipelines.fraud.contract import FEATURES, LABEL

    code = target / SERVING_CODE_DIR
    code.mkdir(parents=True)
    joblib.dump(model, target / "model.pkl")
    shutil.copy(ROOT / "pipelines" / "serving_runtime.py", code)
    (code / "serving_runtime.json").write_text(json.dumps({"threshold": 0.5, "features": FEATURES, "label": LABEL}))
    return target


def timings(mnt: Path, rows: np.ndarray, requests: int, log: Path, hide_gpu: bool) -> tuple[str, dict[int, tuple[float, float]]]:
    """Serve ``mnt`` and time ``requests`` V2 requests per batch size: the reported device and (p50, p95) ms per batch."""
    from demo.serving import model_server, v2_request

    env = {"CUDA_VISIBLE_DEVICES": ""} if hide_gpu else {}
    found = {}
    with model_server(mnt, "fraud-gpu", log, threads=4, runtime_env=env, timeout=180) as server:
        device = server.metadata()["parameters"]["device"]
        for batch in BATCHES:
            body = v2_request(rows[:batch].tolist())
            assert server.infer(body, timeout=60).status_code == 200, f"see {log}"  # warm-up (and the GPU's first copy)
            spent = []
            for _ in range(requests):
                began = time.perf_counter()
                response = server.infer(body, timeout=60)
                spent.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, response.text
            found[batch] = (float(np.percentile(spent, 50)), float(np.percentile(spent, 95)))
    return device, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="generated training rows (default 200000)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per batch size (default 50)")
    parser.add_argument("--without-gpu", action="store_true", help="run even without a GPU (both servers report cpu)")
    args = parser.parse_args(argv)
    gpus = estimators.visible_gpus()
    if not gpus and not args.without_gpu:
        print("SKIPPED: no visible CUDA GPU (NVIDIA driver and device); run this on a GPU node to time GPU serving")
        return 0
    model, rows = fitted(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        mnt = model_dir(model, Path(tmp) / "models")
        runs = {name: timings(mnt, rows, args.requests, Path(tmp) / f"{name}.log", hide) for name, hide in (("GPU", False), ("CPU", True))}
    print(f"XGBoost (150 trees, depth 6, {args.rows} training rows) served by MLServer, {args.requests} V2 requests per size:")
    for name, (device, found) in runs.items():
        cells = "  ".join(f"{batch:>5} rows p50 {p50:7.1f} ms p95 {p95:7.1f} ms" for batch, (p50, p95) in found.items())
        print(f"  {name}: device {device:4}  {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
