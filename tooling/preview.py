"""Offline preview: what a stack would create, grouped by resource type.

    python -m tooling.preview --stack staging [--stack prod ...] [--names]

Runs the real program under mocks (no cloud account, no Pulumi CLI) and prints
the resources by type. Invalid stack config fails with its one-line error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from infra.config import ConfigError
from tooling import offline, policy_report


def render(run: offline.OfflineRun, names: bool = False) -> str:
    """A plain-text report of one stack's resources and outputs."""
    counts = run.count_by_type()
    lines = [f"Stack {run.stack}: {len(run.resources)} resources would be created", ""]
    width = max((len(t) for t in counts), default=0)
    for resource_type, count in counts.items():
        lines.append(f"  + {resource_type:<{width}}  {count:>3}")
        if names:
            lines += [f"      {r.name}" for r in run.resources if r.type == resource_type]
    lines += ["", "Outputs:"]
    for key, value in sorted(run.public_outputs().items()):
        lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Offline preview of a stack, resources grouped by type.")
    parser.add_argument("--stack", action="append", choices=offline.available_stacks(), help="stack to preview (repeatable; default staging)")
    parser.add_argument("--names", action="store_true", help="list every resource name under its type")
    parser.add_argument("--outputs-json", action="store_true", help="print counts and outputs as JSON (secrets masked)")
    parser.add_argument("--policy", action="store_true",
                        help="with --outputs-json: add the policy pack's report over the same run (one program run for both)")
    args = parser.parse_args(argv)
    if args.policy and not args.outputs_json:
        parser.error("--policy adds the report to the JSON: use it with --outputs-json (or run `make policy`)")
    for stack in args.stack or ["staging"]:
        started = time.perf_counter()
        try:
            run = offline.run(stack)
        except ConfigError as error:
            print(f"error: stack {stack}: {error}", file=sys.stderr)
            return 2
        if args.outputs_json:
            document = {"stack": stack, "total": len(run.resources), "counts": run.count_by_type(), "outputs": run.public_outputs()}
            if args.policy:
                violations = policy_report.evaluate(run)
                document["policy"] = {"report": policy_report.report(stack, violations),
                                      "mandatory": sum(v.level == "mandatory" for v in violations)}
            print(json.dumps(document))
            continue
        print(render(run, names=args.names))
        print(f"\n(offline preview of {stack} in {time.perf_counter() - started:.2f} s)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
