"""The pack's policies, in one list: what `__main__` serves and what the harness runs."""

from __future__ import annotations

from policies import aws_rules, kubernetes_rules

PACK_NAME = "mlplatform-guardrails"
POLICIES = [*aws_rules.POLICIES, *kubernetes_rules.POLICIES]
