"""Which runner each stack's cluster jobs run on, from the stack files (the one owner of that fact).

    python -m tooling.ci_runners            # {"dev": ["self-hosted", "linux", "mlplatform-dev"], ...}
    python -m tooling.ci_runners --regions  # {"dev": "us-east-1", ...}: where each stack's jobs get credentials

The workflows' first job prints this map; every job that previews or deploys a stack takes its
``runs-on`` from it (``fromJSON(needs.runners.outputs.labels)[stack]``). A cluster whose API
endpoint is private or admits only some CIDRs gets a self-hosted runner inside its VPC.
"""

from __future__ import annotations

import json
import sys

from infra.config import ConfigError
from tooling import offline


def runner_labels() -> dict[str, list[str]]:
    """Stack -> runs-on labels, for every stack with a cluster in AWS."""
    labels = {}
    for stack in offline.available_stacks():
        _, settings = offline.settings_of(stack)
        if settings.ci_runner:
            labels[stack] = list(settings.ci_runner)
    return labels


def regions() -> dict[str, str]:
    """Stack -> its AWS region (awsRegion of its file), for the workflows' credentials: no region is written twice."""
    return {stack: offline.settings_of(stack)[1].aws_region for stack in runner_labels()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        print(json.dumps(regions() if args == ["--regions"] else runner_labels(), separators=(",", ":")))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
