"""Which runner each stack's cluster jobs run on, from the stack files (the one owner of that fact).

    python -m tooling.ci_runners            # {"dev": ["self-hosted", "linux", "mlplatform-dev"], ...}

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
    for stack in offline.STACKS:
        _, settings = offline.settings_of(stack)
        if settings.ci_runner:
            labels[stack] = list(settings.ci_runner)
    return labels


def main() -> int:
    try:
        print(json.dumps(runner_labels(), separators=(",", ":")))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
