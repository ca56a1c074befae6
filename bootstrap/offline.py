"""The bootstrap program offline, as the platform's: under the same mocks, with the same preview and policy pack.

    python -m bootstrap.offline            # make bootstrap-preview: the resources, the outputs, the pack's report

Exits 1 on a mandatory violation, 2 on a bad config (one line naming the key).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bootstrap import account
from tooling import offline, policy_report, preview
from tooling.mocks import PlatformMocks

FOLDER = Path(__file__).resolve().parent
STACK = "account"


def stack_config(overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The flat ``mlplatform-bootstrap:key`` map the CLI would hand the program (defaults, stack file, overrides)."""
    project = yaml.safe_load((FOLDER / "Pulumi.yaml").read_text())
    flat = {f"{account.PROJECT}:{key}": offline.encode(decl["default"]) for key, decl in project["config"].items() if "default" in decl}
    flat |= {key: offline.encode(value) for key, value in (yaml.safe_load((FOLDER / f"Pulumi.{STACK}.yaml").read_text())["config"]).items()}
    flat |= {f"{account.PROJECT}:{key}": offline.encode(value) for key, value in (overrides or {}).items()}
    return flat


def run(overrides: Mapping[str, Any] | None = None) -> offline.OfflineRun:
    """The bootstrap program under mocks (the documentation account)."""
    flat = stack_config(overrides)

    def build() -> dict[str, Any]:
        return account.build(account.load())

    resources, outputs = offline.run_program(account.PROJECT, STACK, flat, build, PlatformMocks())
    raw = {key.split(":", 1)[1]: yaml.safe_load(value) for key, value in flat.items()}
    return offline.OfflineRun(stack=STACK, settings=account.parse(raw), resources=resources, outputs=outputs)


def main() -> int:
    try:
        result = run()
    except account.ConfigError as error:
        print(f"error: bootstrap/Pulumi.{STACK}.yaml: {error}", file=sys.stderr)
        return 2
    violations = policy_report.evaluate(result)
    print(preview.render(result, names=True))
    print(policy_report.report(f"bootstrap {STACK}", violations))
    return 1 if any(v.level == "mandatory" for v in violations) else 0


if __name__ == "__main__":
    sys.exit(main())
