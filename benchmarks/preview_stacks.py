"""Benchmark: time the offline preview (program under mocks) of every stack.

    .venv-infra/bin/python benchmarks/preview_stacks.py [--repeat 3]

Prints the import time, each stack's best time and resource count, and the
total; the goal is under 10 s for all stacks together on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per stack; the best is reported")
    args = parser.parse_args()
    started = time.perf_counter()
    from tooling import offline

    imported = time.perf_counter() - started
    print(f"{'import':<10} {imported:7.3f} s")
    total = imported
    for stack in offline.STACKS:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            run = offline.run(stack)
            times.append(time.perf_counter() - t0)
        first = times[0]
        total += first
        print(f"{stack:<10} {first:7.3f} s first, {min(times):7.3f} s best of {args.repeat}, {len(run.resources):4d} resources")
    print(f"{'total':<10} {total:7.3f} s (import + first run of every stack; goal < 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
