"""Pulumi entry point of the bootstrap program: read the account's settings, declare its parts, export them."""

import os
import sys

import pulumi

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bootstrap import account  # noqa: E402

try:
    settings = account.load()
except account.ConfigError as error:
    raise pulumi.RunError(f"bootstrap/Pulumi.{pulumi.get_stack()}.yaml: {error}") from None

for key, value in account.build(settings).items():
    pulumi.export(key, value)
