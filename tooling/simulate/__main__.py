"""``python -m tooling.simulate --stack staging [--config key=value ...] [--destroy | --fault spot|node|zone]``: a
fresh-cluster `pulumi up` (or `pulumi destroy`, or a fault on the running stack) of a stack, offline, its config
optionally overridden (an option no stack file turns on yet; ``key={"secure":"x"}`` as a Pulumi secret); exit 1 on any
finding (a refused destroy; a fault that takes a service down or puts state at risk where platformPlacement is system),
2 without the upstream."""

from __future__ import annotations

import argparse
import sys

from tooling import offline, render
from tooling.simulate import faults
from tooling.simulate.engine import Plan
from tooling.simulate.report import simulate, simulate_destroy, with_waves

README = offline.ROOT / "README.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling.simulate", description=__doc__)
    parser.add_argument("--stack", required=True, choices=offline.available_stacks(), help="a stack file under stacks/")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="override a mlplatform config key (JSON values allowed), for example sso=true")
    parser.add_argument("--destroy", action="store_true", help="simulate `pulumi destroy` instead of `pulumi up`")
    parser.add_argument("--readme", action="store_true", help="write the stack's waves into README.md's section (staging's are there)")
    parser.add_argument("--fault", choices=faults.FAULTS, help="lose every spot group, one node or one zone, and report each service")
    parser.add_argument("--faults-readme", action="store_true", help="write the stack's rows of README.md's fault table")
    args = parser.parse_args(argv)
    root = render.upstream_root()
    if root is None:
        print("simulate: no upstream sources (../shared/upstream is absent); run `make upstream` to fetch them into .upstream/")
        return 2
    # As the deploy workflow runs it: the step image pushed first, so the program finds it and declares the pipelines.
    run = offline.run(args.stack, offline.parse_overrides(args.config))
    objects = render.stack_objects(run, root)
    if args.readme:
        README.write_text(with_waves(README.read_text(), Plan(run, objects, root)))
        print(f"{README.name}: the waves of {args.stack} written")
        return 0
    if args.fault or args.faults_readme:
        settings, plain = run.settings, [o.obj for o in Plan(run, objects, root).objects]
        reports = [faults.simulate_fault(args.stack, settings, plain, run.resources, f) for f in ([args.fault] if args.fault else faults.FAULTS)]
        if args.faults_readme:
            README.write_text(faults.with_rows(README.read_text(), args.stack, [r.row() for r in reports]))
            print(f"{README.name}: the faults of {args.stack} written")
            return 0
        broken = faults.failed(reports[0], settings)
        sys.stdout.write("\n".join([*reports[0].lines(), *(f"FAILED: {line}" for line in broken)]) + "\n")
        return 1 if broken else 0
    outcome = (simulate_destroy if args.destroy else simulate)(run, objects, root)
    sys.stdout.write(outcome.text())
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
