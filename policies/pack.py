"""The pack's policies, in one list: what `__main__` serves and what the policy report runs.

One module per area; each rule's metadata sits on its function (``policies.helpers.rule``).
"""

from __future__ import annotations

from policies import eks, iam, kubernetes, nodes, protection, rds, s3
from policies.helpers import policies_of

PACK_NAME = "mlplatform-guardrails"
POLICIES = policies_of(s3, eks, nodes, rds, iam, protection, kubernetes)
