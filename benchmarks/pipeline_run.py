"""Benchmark: time one local run of the fraud training pipeline (kfp.local, SubprocessRunner).

    .venv-ml/bin/python benchmarks/pipeline_run.py [--rows 20000]

Generates the data, starts a real MLflow server (not timed; it is left to settle), runs the
pipeline once and prints the wall time and each step's; the goal is 20 s for 20k rows on a
2-core machine. Each step is a process of its own, so most of a step is its imports.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.fraud.data import generate  # noqa: E402
from pipelines.mlflow_server import mlflow_server  # noqa: E402
from pipelines.run import run_pipeline  # noqa: E402

_EVENT = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) - INFO - (?:Executing task '([\w-]+)'|Task '([\w-]+)' finished)")


def step_seconds(log: str) -> list[tuple[str, float]]:
    """(task, seconds) for each step, from kfp.local's log lines."""
    started, out = {}, []
    for line in re.sub(r"\x1b\[[0-9;]*m", "", log).splitlines():
        match = _EVENT.match(line)
        if match:
            hours, minutes, seconds, begun, ended = match.groups()
            at = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            if begun:
                started[begun] = at
            elif ended in started:
                out.append((ended, at - started.pop(ended)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of synthetic data (default 20000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        data = work / "fraud.csv"
        generate(args.rows).to_csv(data, index=False)
        with mlflow_server(work / "mlflow") as url:
            time.sleep(3)
            started = time.perf_counter()
            result = run_pipeline(str(data), url, work / "kfp", echo=False)
            elapsed = time.perf_counter() - started
            log = "".join(path.read_text() for path in (work / "kfp").glob("run-*.log"))
    print(f"rows={args.rows} pipeline_seconds={elapsed:.1f} (goal <= 20 s) gate={result.gate_reason!r}")
    for task, seconds in step_seconds(log):
        print(f"  {task:<10} {seconds:5.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
