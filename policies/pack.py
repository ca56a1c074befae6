"""The pack's policies, in one list: what `__main__` serves and what the policy report runs.

One module per area; each rule's metadata sits on its function (``policies.helpers.rule``).
"""

from __future__ import annotations

from policies import eks, iam, namespaces, network, nodes, pod_security, protection, rds, s3, serving, supply_chain
from policies.helpers import policies_of

PACK_NAME = "mlplatform-guardrails"
# The Kubernetes rules, by concern (the conformance suite also runs them over what third-party installs render).
KUBERNETES = (namespaces, pod_security, supply_chain, network, serving)
POLICIES = policies_of(s3, eks, nodes, rds, iam, protection, *KUBERNETES)
