"""NetworkPolicy semantics as the VPC CNI (and any conformant enforcer) applies them, over rendered objects.

Policies are additive; a pod selected by a policy of a direction admits only what some rule of that
direction allows; traffic from or to an address outside the cluster matches only ipBlocks (under the
VPC CNI a Service's ClusterIP is such an address: egress is matched before it is translated).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pod:
    """A pod by namespace and labels, or an address outside the cluster (``ip``)."""

    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    ip: str = ""


def selects(selector: dict | None, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects ``labels``."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        value, values = labels.get(expression["key"]), expression.get("values") or []
        operator = expression["operator"]
        if (operator == "In" and value not in values) or (operator == "NotIn" and value in values):
            return False
        if (operator == "Exists" and value is None) or (operator == "DoesNotExist" and value is not None):
            return False
    return True


def _peer_matches(peer: dict, pod: Pod, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if not pod.ip:
            return False
        address = ipaddress.ip_address(pod.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
    if pod.ip:  # traffic from outside the cluster matches only ipBlocks
        return False
    if "namespaceSelector" in peer:
        namespace_ok = selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": pod.namespace})
    else:
        namespace_ok = pod.namespace == policy_namespace
    return namespace_ok and selects(peer.get("podSelector"), pod.labels)


def _port_matches(rule: dict, port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") in (None, port) and p.get("protocol", "TCP") == "TCP" for p in ports)


def _direction_allows(policies: list[dict], subject: Pod, peer: Pod, port: int, direction: str) -> bool:
    """Whether ``subject`` may send (Egress) to / receive (Ingress) from ``peer`` on ``port``."""
    selecting = [
        p for p in policies
        if p["metadata"]["namespace"] == subject.namespace and selects(p["spec"].get("podSelector"), subject.labels)
        and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if _port_matches(rule, port) and (not peers or any(_peer_matches(p, peer, policy["metadata"]["namespace"]) for p in peers)):
                return True
    return False


def allowed(policies: list[dict], source: Pod, target: Pod, port: int) -> bool:
    """Whether a TCP connection from ``source`` to ``target``:``port`` is allowed by both sides' policies."""
    egress = source.ip != "" or _direction_allows(policies, source, target, port, "Egress")
    return egress and _direction_allows(policies, target, source, port, "Ingress")
