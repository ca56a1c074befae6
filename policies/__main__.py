"""Policy pack entry point: the Pulumi CLI runs this with `--policy-pack policies`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.pack import PACK_NAME, POLICIES  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    description="Security, reliability and cost guardrails of the ML platform.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
