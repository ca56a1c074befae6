"""The explicit allow-list on top of every namespace's default deny: one Flow per permitted connection.

A flow between two namespaces becomes an egress policy at the source and an
ingress policy at the target; a flow to or from outside the cluster (S3, RDS,
the API server) becomes one policy with an ipBlock. Every allow names its peer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


@dataclass(frozen=True)
class Flow:
    """Pods in ``source`` may open TCP connections to ``target`` on ``ports``.

    ``source``/``target`` are namespaces; ``cidr`` replaces the target (egress to
    outside) or, with ``source`` empty, the source (ingress from outside).
    """

    name: str
    source: str
    target: str
    ports: tuple[int, ...]
    source_pods: dict[str, str] = field(default_factory=dict)
    target_pods: dict[str, str] = field(default_factory=dict)
    cidr: str = ""
    cidr_except: tuple[str, ...] = ()
    # False when the platform does not own the source namespace (an ingress gateway):
    # then only the target's ingress policy is declared.
    source_managed: bool = True

    def peer(self, namespace: str, pods: dict[str, str]) -> dict:
        if not namespace:
            block: dict = {"cidr": self.cidr}
            if self.cidr_except:
                block["except"] = list(self.cidr_except)
            return {"ipBlock": block}
        peer: dict = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
        if pods:
            peer["podSelector"] = {"matchLabels": dict(pods)}
        return peer

    @property
    def port_list(self) -> list[dict]:
        return [{"protocol": "TCP", "port": port} for port in self.ports]


class NetworkFlows(pulumi.ComponentResource):
    """NetworkPolicies for every flow the platform needs."""

    def __init__(self, name: str, flows: Sequence[Flow], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:NetworkFlows", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self)
        for flow in flows:
            if flow.source and flow.source_managed:
                self._policy(flow, "Egress", flow.source, flow.source_pods, {"to": [flow.peer(flow.target, flow.target_pods)]})
            if flow.target:
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
