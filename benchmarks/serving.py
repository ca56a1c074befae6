"""Benchmark: V2 infer latency and throughput of the local model server at a fixed request rate.

    .venv-ml/bin/python benchmarks/serving.py [--rate 50] [--seconds 10]

Trains a model on synthetic data (not timed), serves it with MLServer's sklearn
runtime as KServe does, then sends single-row and 100-row requests open-loop at
the given rate from a small thread pool, and prints p50/p99 latency and the
achieved throughput for each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.serving import model_server, v2_request  # noqa: E402
from pipelines.fraud.contract import FEATURES, LABEL  # noqa: E402
from pipelines.fraud.data import generate  # noqa: E402


def train_model(path: Path) -> list[list[float]]:
    """A quick gradient-boosting model in the pipeline's shape; returns rows to send."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = generate(20_000, seed=3)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(frame[FEATURES].values, frame[LABEL])
    joblib.dump(model, path)
    return frame[FEATURES].astype(float).values.tolist()


def load(server, payloads: list[dict], rate: float, seconds: float) -> dict[str, float]:
    """Send ``rate`` requests per second for ``seconds``; latency percentiles and achieved throughput."""
    interval, total = 1.0 / rate, int(rate * seconds)
    latencies: list[float] = []
    errors = 0

    def send(index: int) -> None:
        nonlocal errors
        began = time.perf_counter()
        response = server.infer(payloads[index % len(payloads)])
        latencies.append((time.perf_counter() - began) * 1000)
        errors += response.status_code != 200

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for index in range(total):
            delay = started + index * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, index)
    elapsed = time.perf_counter() - started
    return {
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "throughput_rps": len(latencies) / elapsed,
        "errors": errors,
        "requests": len(latencies),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each load phase (default 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        repository = Path(tmp)
        model_dir = repository / "fraud-detector"
        model_dir.mkdir()
        rows = train_model(model_dir / "model.joblib")
        (model_dir / "model-settings.json").write_text(
            '{"name": "fraud-detector", "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {"uri": "./model.joblib"}}'
        )
        with model_server(repository, "fraud-detector", repository / "mlserver.log") as server:
            single = [v2_request([row]) for row in rows[:500]]
            batches = [v2_request(rows[i : i + 100]) for i in range(0, 5000, 100)]
            for name, payloads in (("1-row", single), ("100-row", batches)):
                load(server, payloads, args.rate, 1.0)  # warm-up
                result = load(server, payloads, args.rate, args.seconds)
                print(
                    f"{name:>7} @ {args.rate:.0f} req/s for {args.seconds:.0f} s: p50 {result['p50_ms']:.2f} ms, "
                    f"p99 {result['p99_ms']:.2f} ms, throughput {result['throughput_rps']:.1f} req/s "
                    f"({result['throughput_rps'] * (1 if name == '1-row' else 100):.0f} rows/s), "
                    f"{result['errors']} errors of {result['requests']}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
