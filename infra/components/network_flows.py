"""The explicit allow-list on top of every namespace's default deny: one Flow per permitted connection.

A flow between two namespaces becomes an egress policy at the source and an
ingress policy at the target; a flow to or from outside the cluster (S3, RDS,
the API server) becomes one policy with an ipBlock. Every allow names its peer.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.flows import Flow


class NetworkFlows(pulumi.ComponentResource):
    """NetworkPolicies for every flow the platform needs."""

    def __init__(self, name: str, flows: Sequence[Flow], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:NetworkFlows", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self)
        for flow in flows:
            if flow.source and flow.source_managed:
                self._policy(flow, "Egress", flow.source, flow.source_pods, {"to": [flow.peer(flow.target, flow.target_pods)]})
            if flow.target and flow.target_managed:
                self._policy(flow, "Ingress", flow.target, flow.target_pods, {"from": [flow.peer(flow.source, flow.source_pods)]})
        self.register_outputs({})

    def _policy(self, flow: Flow, direction: str, namespace: str, pods: dict[str, str], peers: dict) -> None:
        """One side of a flow: the policy in ``namespace`` selecting ``pods``, towards or from the peer."""
        side = direction.lower()
        k8s.networking.v1.NetworkPolicy(
            f"{flow.name}-{side}",
            metadata={"name": f"allow-{flow.name}-{side}", "namespace": namespace, "labels": {"mlplatform.io/flow": flow.name}},
            spec={
                "podSelector": {"matchLabels": dict(pods)} if pods else {},
                "policyTypes": [direction],
                side: [{**peers, "ports": flow.port_list}],
            },
            opts=self._child,
        )
