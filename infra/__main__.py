"""Pulumi entry point: read the stack's settings, declare the platform, export its outputs."""

import os
import sys

import pulumi

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from infra import config, program  # noqa: E402

try:
    settings = config.load()
except config.ConfigError as error:
    # One clean line instead of a traceback; nothing has been declared yet.
    raise pulumi.RunError(f"stacks/Pulumi.{pulumi.get_stack()}.yaml: {error}") from None

for key, value in program.build(settings).items():
    pulumi.export(key, value)
