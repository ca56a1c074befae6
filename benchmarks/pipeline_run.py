"""Benchmark: time one local run of the fraud training pipeline (kfp.local, SubprocessRunner).

    .venv-ml/bin/python benchmarks/pipeline_run.py [--rows 50000]

Generates the data, starts a real MLflow server (not timed), runs the pipeline
once and prints the wall time; the goal is under 60 s for 50k rows on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.fraud.data import generate  # noqa: E402
from pipelines.mlflow_server import mlflow_server  # noqa: E402
from pipelines.run import run_pipeline  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows of synthetic data (default 50000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        data = work / "fraud.csv"
        generate(args.rows).to_csv(data, index=False)
        with mlflow_server(work / "mlflow") as url:
            started = time.perf_counter()
            result = run_pipeline(str(data), url, work / "kfp")
            elapsed = time.perf_counter() - started
    print(f"rows={args.rows} pipeline_seconds={elapsed:.1f} (goal < 60 s) gate={result.gate_reason!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
