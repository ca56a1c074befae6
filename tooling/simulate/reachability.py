"""Reachability: every connection a workload needs is admitted by the stack's NetworkPolicies.

Evaluated with ``tooling.netpol`` (the VPC CNI's semantics: an address outside the pod network,
such as the ``kubernetes`` Service's ClusterIP, matches only ipBlocks). The flows checked:
- every pod template reaches CoreDNS (kube-system, ``k8s-app=kube-dns``) on 53;
- a pod whose ServiceAccount is bound to a Role or ClusterRole reaches the API server at the
  ``kubernetes`` Service's address on 443;
- the pods behind each admission webhook admit the control plane on the webhook's target port;
- the targets of each ServiceMonitor and PodMonitor admit Prometheus's pods on the scraped port.
"""

from __future__ import annotations

import ipaddress

from infra import flows
from tooling import netpol, render
from tooling.simulate import kube, order
from tooling.simulate.engine import Plan
from tooling.simulate.findings import Finding

DNS_PORT = 53
API_PORT = 443
# A local cluster (kind, the local stack's usual one): kubeadm's default Service range 10.96.0.0/12 puts
# the `kubernetes` Service at 10.96.0.1; kind's nodes, its API server among them, sit on the "kind"
# Docker network, 172.18.0.0/16 by default.
LOCAL_KUBERNETES_SERVICE = "10.96.0.1"
LOCAL_CONTROL_PLANE = "172.18.0.2"


def kubernetes_service(plan: Plan) -> str:
    """The address pods reach the API server at (the ``kubernetes`` Service's ClusterIP)."""
    settings = plan.run.settings
    return settings.cluster.kubernetes_service_address if settings.is_aws else LOCAL_KUBERNETES_SERVICE


def control_plane(plan: Plan) -> str:
    """An address the API server calls webhooks from: on EKS its ENIs in the VPC (the VPC's first host)."""
    settings = plan.run.settings
    return str(next(ipaddress.ip_network(settings.network.vpc_cidr).hosts())) if settings.is_aws else LOCAL_CONTROL_PLANE


def _policies(plan: Plan) -> list[dict]:
    """The stack's NetworkPolicies with their namespace spelt out."""
    policies = []
    for o in plan.objects:
        if o.obj.get("kind") == "NetworkPolicy":
            metadata = {**o.obj["metadata"], "namespace": render.namespace_of(o.obj)}
            policies.append({**o.obj, "metadata": metadata})
    return policies


def _bound_accounts(plan: Plan) -> set[tuple[str, str]]:
    """(namespace, name) of every ServiceAccount a RoleBinding or ClusterRoleBinding grants a role."""
    bound = set()
    for o in plan.objects:
        if o.obj.get("kind") in ("RoleBinding", "ClusterRoleBinding"):
            for entry in o.obj.get("subjects") or []:
                if entry.get("kind") == "ServiceAccount":
                    bound.add((entry.get("namespace") or render.namespace_of(o.obj), entry["name"]))
    return bound


def _pods(plan: Plan) -> list[tuple[render.Rendered, dict, netpol.Pod]]:
    found = []
    for o in plan.objects:
        if template := kube.pod_template(o.obj):
            found.append((o, template[0], netpol.Pod(render.namespace_of(o.obj), dict(template[1]))))
    return found


def _workload_findings(plan: Plan, policies: list[dict]) -> list[Finding]:
    found = []
    dns = netpol.Pod("kube-system", dict(flows.COREDNS_PODS))
    api = netpol.Pod("", ip=kubernetes_service(plan))
    bound = _bound_accounts(plan)
    for o, spec, pod in _pods(plan):
        if not netpol.allowed(policies, pod, dns, DNS_PORT):
            found.append(Finding("reachability", kube.subject(o.obj), f"cannot reach CoreDNS (kube-system k8s-app=kube-dns) on {DNS_PORT}"))
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        if (pod.namespace, account) in bound and spec.get("automountServiceAccountToken") is not False:
            if not netpol.allowed(policies, pod, api, API_PORT):
                found.append(Finding(
                    "reachability", kube.subject(o.obj),
                    f"ServiceAccount {account} is bound to a role but its pods cannot reach the API server at {api.ip}:{API_PORT}",
                ))
    return found


def _webhook_findings(plan: Plan, policies: list[dict]) -> list[Finding]:
    found = []
    source = netpol.Pod("", ip=control_plane(plan))
    for webhook in kube.webhooks(plan.objects):
        namespace, name, port = webhook.service
        service = kube.find(plan.objects, "Service", namespace, name)
        for backend in order.backends(plan, webhook):
            target_port = kube.target_port(service.obj, port, backend.obj) if service else None
            labels = kube.pod_template(backend.obj)[1]
            if target_port and not netpol.allowed(policies, source, netpol.Pod(namespace, dict(labels)), target_port):
                effect = "every request it intercepts is refused" if webhook.fails_closed else "each request it intercepts waits for its timeout and skips it"
                found.append(Finding(
                    "reachability", kube.subject(backend.obj),
                    f"does not admit the control plane ({source.ip}) on {target_port} for webhook {webhook.name}: {effect}",
                ))
    return found


def _prometheus(plan: Plan) -> list[netpol.Pod]:
    """Prometheus's pods as the operator labels them, per Prometheus resource of the stack."""
    pods = []
    for o in plan.objects:
        if o.obj.get("kind") == "Prometheus" and o.obj.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            name = o.obj["metadata"]["name"]
            labels = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator",
                      "app.kubernetes.io/instance": name, "prometheus": name, "operator.prometheus.io/name": name,
                      "operator.prometheus.io/shard": "0"}
            labels |= ((o.obj.get("spec") or {}).get("podMetadata") or {}).get("labels") or {}
            pods.append(netpol.Pod(render.namespace_of(o.obj), labels))
    return pods


def _in_scope(monitor: dict, namespace: str) -> bool:
    selector = (monitor.get("spec") or {}).get("namespaceSelector") or {}
    if selector.get("any"):
        return True
    return namespace in (selector.get("matchNames") or [render.namespace_of(monitor)])


def _scrape_targets(plan: Plan, monitor: dict) -> list[tuple[str, netpol.Pod, int]]:
    """(target name, pod, port) of every target a ServiceMonitor or PodMonitor scrapes among the stack's objects."""
    spec = monitor.get("spec") or {}
    targets = []
    if monitor.get("kind") == "ServiceMonitor":
        for s in plan.objects:
            service = s.obj
            if service.get("kind") != "Service" or not _in_scope(monitor, render.namespace_of(service)):
                continue
            if not netpol.selects(spec.get("selector"), service["metadata"].get("labels") or {}):
                continue
            workloads = kube.backends(service, plan.objects) or [None]
            for endpoint in spec.get("endpoints") or []:
                for workload in workloads:
                    port = kube.target_port(service, endpoint.get("port"), workload.obj if workload else None)
                    labels = kube.pod_template(workload.obj)[1] if workload else (service.get("spec") or {}).get("selector") or {}
                    if port:
                        targets.append((kube.subject(service), netpol.Pod(render.namespace_of(service), dict(labels)), port))
        return targets
    for w in plan.objects:
        template = kube.pod_template(w.obj)
        if not template or not _in_scope(monitor, render.namespace_of(w.obj)) or not netpol.selects(spec.get("selector"), template[1]):
            continue
        for endpoint in spec.get("podMetricsEndpoints") or []:
            port = endpoint.get("portNumber") or kube.container_port(w.obj, endpoint.get("port") or endpoint.get("targetPort") or "")
            if port:
                targets.append((kube.subject(w.obj), netpol.Pod(render.namespace_of(w.obj), dict(template[1])), int(port)))
    return targets


def _monitor_findings(plan: Plan, policies: list[dict]) -> list[Finding]:
    found = []
    for prometheus in _prometheus(plan):
        for o in plan.objects:
            if o.obj.get("kind") not in ("ServiceMonitor", "PodMonitor"):
                continue
            for target, pod, port in _scrape_targets(plan, o.obj):
                if not netpol.allowed(policies, prometheus, pod, port):
                    found.append(Finding(
                        "reachability", kube.subject(o.obj),
                        f"Prometheus ({prometheus.namespace}) cannot scrape {target} on {port}",
                    ))
    return found


def findings(plan: Plan) -> list[Finding]:
    """Every needed connection the NetworkPolicies refuse."""
    policies = _policies(plan)
    return sorted(set([*_workload_findings(plan, policies), *_webhook_findings(plan, policies), *_monitor_findings(plan, policies)]))
