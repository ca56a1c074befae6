"""A stack's resource graph as JSON, secrets masked: what the offline preview diff compares.

    python -m tooling.snapshot --stack staging [--override key=value ...]

Run in a checkout of any revision (the diff runs it at the base and at the head).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
from typing import Any

from infra.config import ConfigError
from tooling import offline
from tooling.offline import SECRET

# The diff sets one random key for both of its snapshots (base and head), so that a changed secret
# shows as changed; the digest is keyed, never printed, and means nothing outside that one diff.
DIGEST_KEY_ENV = "MLPLATFORM_SNAPSHOT_KEY"
DIGEST_KEY = os.environ.get(DIGEST_KEY_ENV) or secrets.token_hex(32)


def masked(value: Any) -> str:
    """``[secret]#<keyed digest>``: equal for equal values within one diff, and not the value."""
    digest = hmac.new(DIGEST_KEY.encode(), json.dumps(value, sort_keys=True, default=str).encode(), hashlib.sha256).hexdigest()[:16]
    return f"{SECRET}#{digest}"


def is_secret(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SECRET)


def mask(value: Any, secret_paths: tuple[str, ...], path: str = "") -> Any:
    """``value`` with every secret path replaced by :func:`masked`."""
    if path in secret_paths:
        return masked(value)
    if isinstance(value, dict):
        return {k: mask(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def snapshot(run: offline.OfflineRun) -> dict[str, Any]:
    """URN -> type, name, masked inputs and protection, for every resource; plus masked outputs."""
    return {
        "stack": run.stack,
        "resources": {
            r.urn: {"type": r.type, "name": r.name, "inputs": mask(r.inputs, r.secret_paths), "protect": r.protect}
            for r in run.resources
        },
        "outputs": run.public_outputs(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, choices=offline.STACKS)
    parser.add_argument("--override", action="append", default=[], help="config override key=value (JSON values allowed)")
    args = parser.parse_args(argv)
    try:
        run = offline.run(args.stack, offline.parse_overrides(args.override))
    except ConfigError as error:
        print(f"error: stack {args.stack}: {error}", file=sys.stderr)
        return 2
    json.dump(snapshot(run), sys.stdout, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
