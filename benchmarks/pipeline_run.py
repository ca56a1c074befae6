"""Benchmark: time one local run of the fraud training pipeline (kfp.local, SubprocessRunner) at each given size.

    .venv-ml/bin/python benchmarks/pipeline_run.py [--rows 20000 1000000 10000000] [--cold]

Per size: generates the data and starts a fresh MLflow server and the warm step server as `python -m pipelines.run`
runs the steps (pipelines/step_server.py; with --cold every step is a new interpreter, as in its pod) (none of this
timed; both are left to settle), runs the pipeline once and prints the wall time, and each step's seconds and peak memory (the
resident-memory high-water mark of the step's own process, from the step's log line: pipelines/fraud/frames.py),
with the machine's load average around the run. Goals on a 2-core machine: 20 s for 20k rows, 30 s for
1M, 5 min for 10M. Cold, each step is a process of its own, so at 20k most of a step is its imports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.fraud.data import generate  # noqa: E402
from pipelines.fraud.frames import PEAK_RSS  # noqa: E402
from pipelines.mlflow_server import mlflow_server  # noqa: E402
from pipelines.run import run_pipeline  # noqa: E402
from pipelines.step_server import step_server  # noqa: E402

_EVENT = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) - INFO - (?:Executing task '([\w-]+)'|Task '([\w-]+)' finished)")
_PEAK = re.compile(re.escape(PEAK_RSS) + r"([\w-]+) (\d+) MiB, ([\d.]+) s CPU")
# Seconds a run of that many rows may take (issue 31): the largest goal at or below the size applies.
GOALS = {20_000: 20.0, 1_000_000: 30.0, 10_000_000: 300.0}
# Rows generated and written per slice: the 10M-row file is written without a 10M-row frame in memory.
SLICE = 2_000_000


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


def peaks(log: str) -> dict[str, tuple[int, float]]:
    """Each step's peak resident memory in MiB and CPU seconds, from the line it prints last."""
    return {step: (int(mib), float(cpu)) for step, mib, cpu in _PEAK.findall(re.sub(r"\x1b\[[0-9;]*m", "", log))}


def write_data(rows: int, path: Path) -> None:
    """``rows`` generated rows as one CSV file, written in slices of :data:`SLICE` rows (seeds 7, 8, ...)."""
    for number, start in enumerate(range(0, rows, SLICE)):
        part = generate(min(SLICE, rows - start), seed=7 + number)
        part.to_csv(path, index=False, header=number == 0, mode="w" if number == 0 else "a")


def goal(rows: int) -> float | None:
    """The goal in seconds for ``rows``, or None below the smallest size with a goal."""
    at_or_below = [size for size in GOALS if size <= rows]
    return GOALS[max(at_or_below)] if at_or_below else None


def run_once(rows: int, cold: bool) -> None:
    """Generate, run and print one size's figures."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        data = work / "fraud.csv"
        write_data(rows, data)
        if not cold:
            stack.enter_context(step_server(work / "steps"))
        with mlflow_server(work / "mlflow") as url:
            time.sleep(3)
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            result = run_pipeline(str(data), url, work / "kfp", echo=False)
            elapsed = time.perf_counter() - started
            load_after = os.getloadavg()[0]
            log = "".join(path.read_text() for path in (work / "kfp").glob("run-*.log"))
    limit = goal(rows)
    verdict = "" if limit is None else f" (goal <= {limit:.0f} s: {'met' if elapsed <= limit else 'NOT met'})"
    print(f"rows={rows} steps={'cold' if cold else 'warm'} pipeline_seconds={elapsed:.1f}{verdict} load_average={load_before:.1f}->{load_after:.1f} "
          f"gate={result.gate_reason!r}")
    measured = peaks(log)
    for task, seconds in step_seconds(log):
        mib, cpu = measured.get(task.split("-")[0], (None, None))
        print(f"  {task:<10} {seconds:6.1f} s" + (f"  peak {mib:6d} MiB  cpu {cpu:6.1f} s" if mib is not None else ""))
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000], help="rows of synthetic data, one run per size (default 20000)")
    parser.add_argument("--cold", action="store_true", help="every step a new interpreter (default: warm steps)")
    args = parser.parse_args()
    bad = [rows for rows in args.rows if rows <= 0]
    if bad:
        parser.error(f"--rows must be positive, got {bad}")
    for rows in args.rows:
        run_once(rows, args.cold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
