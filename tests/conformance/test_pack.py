"""The pack's Kubernetes rules over what third-party installs render, not only over what the program declares.

Under mocks a Helm release or a kustomize directory is one opaque resource, so the pack never sees the
Deployments inside it. Here each rule runs over every rendered object of every release and directory.
What upstream ships without CPU and memory requests and limits is listed below, by object: the list must
stay exact (fix one upstream, by values or an overlay patch, and remove it here).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from policies import kubernetes
from policies.helpers import policies_of
from tests.conformance.render import RELEASE, Rendered, identity
from tooling import offline

RULES = [p for p in policies_of(kubernetes) if p.__class__.__name__ == "ResourceValidationPolicy"]
# (namespace, kind, name): upstream workloads with no requests or limits on some container.
UPSTREAM_WITHOUT_LIMITS = {
    *(("kubeflow", "Deployment", name) for name in (
        "cache-deployer-deployment", "cache-server", "metadata-envoy-deployment", "metadata-grpc-deployment", "metadata-writer",
        "ml-pipeline", "ml-pipeline-persistenceagent", "ml-pipeline-scheduledworkflow", "ml-pipeline-ui", "ml-pipeline-viewer-crd",
        "ml-pipeline-visualizationserver", "mysql", "workflow-controller")),
}


def _findings(stack: str, objects: list[Rendered]) -> set[tuple[str, str, str, str]]:
    found = set()
    for item in objects:
        if not item.source.rsplit("::", 1)[0].endswith((RELEASE, "kubernetes:kustomize/v2:Directory")):
            continue
        # The namespace the object lands in (a chart's template may leave it to the release's).
        obj = {**item.obj, "metadata": {**item.obj.get("metadata", {}), "namespace": identity(item.obj)[2]}}
        group_version = obj.get("apiVersion", "")
        resource_type = f"kubernetes:{group_version if '/' in group_version else 'core/' + group_version}:{obj.get('kind')}"
        args = SimpleNamespace(resource_type=resource_type, props=obj, urn=f"urn:pulumi:{stack}::mlplatform::{resource_type}::x",
                               provider=None, name=obj["metadata"].get("name"), get_config=dict, opts=SimpleNamespace(protect=False))
        for rule in RULES:
            messages: list[str] = []
            rule.validate(args, lambda message, urn=None, messages=messages: messages.append(message))
            if messages:
                _, kind, namespace, name = identity(obj)
                found.add((rule.name, namespace, kind, name))
    return found


@pytest.mark.parametrize("stack", offline.STACKS)
def test_third_party_objects_pass_the_kubernetes_rules(stack: str, stack_objects: dict[str, list[Rendered]]) -> None:
    """Restricted (or the namespace's documented level), pinned, allowed registries, no credential literals, no internet
    ingress, ...: every rule holds for the rendered upstream objects, but for the listed missing limits."""
    found = _findings(stack, stack_objects[stack])
    unexpected = {f for f in found if not (f[0] == "containers-resources" and f[1:] in UPSTREAM_WITHOUT_LIMITS)}
    assert unexpected == set(), sorted(unexpected)


def test_the_list_of_upstream_findings_is_exact(stack_objects: dict[str, list[Rendered]]) -> None:
    """Every listed object is still found in some stack: a fixed one leaves the list."""
    found = {f[1:] for stack, objects in stack_objects.items() for f in _findings(stack, objects) if f[0] == "containers-resources"}
    assert UPSTREAM_WITHOUT_LIMITS - found == set()
