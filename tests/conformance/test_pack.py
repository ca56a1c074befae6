"""The pack's Kubernetes rules over what third-party installs render, not only over what the program declares.

Under mocks a Helm release or a kustomize directory is one opaque resource, so the pack never sees the
Deployments inside it. Here each rule runs over every rendered object of every release and directory,
and none may be broken: what upstream ships without CPU and memory requests and limits gets them from
the program's values or overlays (KFP's servers: infra/manifests/kubeflow-pipelines/base).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from policies.helpers import policies_of
from policies.pack import KUBERNETES
from tooling import offline
from tooling.render import RELEASE, Rendered, identity, namespace_of, render_kfp_upstream

RULES = [p for p in policies_of(*KUBERNETES) if p.__class__.__name__ == "ResourceValidationPolicy"]


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
                               provider=None, name=obj["metadata"].get("name"), get_config=dict,
                               # As the engine reports a chart's or a directory's object: a child of it.
                               opts=SimpleNamespace(protect=False, parent=item.source))
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
    ingress, requests and limits, ...: every rule holds for the rendered upstream objects."""
    assert sorted(_findings(stack, stack_objects[stack])) == []


def test_kfp_keeps_upstream_requests(upstream: Path, stack_objects: dict[str, list[Rendered]]) -> None:
    """The overlay's requests for KFP's servers are upstream's where upstream sets them; only the missing ones are added."""
    def requests(objects: list[dict]) -> dict[tuple[str, str], dict]:
        return {(o["metadata"]["name"], c["name"]): c.get("resources", {}).get("requests") for o in objects if o.get("kind") == "Deployment"
                for c in o["spec"]["template"]["spec"]["containers"]}

    theirs = requests(render_kfp_upstream(upstream))
    ours = requests([item.obj for item in stack_objects["staging"] if namespace_of(item.obj) == "kubeflow"])
    kept = {key: value for key, value in theirs.items() if value and key in ours}
    assert kept and all(ours[key] == value for key, value in kept.items()), {k: (v, ours[k]) for k, v in kept.items() if ours[k] != v}
    assert all(ours[key] for key in theirs if key in ours), "a KFP server without requests"


@pytest.mark.parametrize("stack", [s for s in offline.STACKS if s in ("staging", "prod")])
def test_operator_made_pods_are_bounded(stack: str, stack_objects: dict[str, list[Rendered]]) -> None:
    """The pods the Prometheus operator makes at run time are bounded: Prometheus's and Alertmanager's resources, the
    config reloader's flags, and a LimitRange in the namespace for whatever else they leave unset."""
    objects = [item.obj for item in stack_objects[stack]]
    custom = [o for o in objects if o["kind"] in ("Prometheus", "Alertmanager")]
    assert {o["kind"] for o in custom} == {"Prometheus", "Alertmanager"}
    for obj in custom:
        resources = obj["spec"].get("resources") or {}
        assert all(resources.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")), obj["kind"]
    (operator,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-operator")]
    args = " ".join(operator["spec"]["template"]["spec"]["containers"][0]["args"])
    for flag in ("cpu-request", "cpu-limit", "memory-request", "memory-limit"):
        assert re.search(rf"--config-reloader-{flag}=[1-9]", args), f"the config reloader's {flag} is unset (0 = unbounded)"
    namespace = namespace_of(custom[0])
    limits = [o for o in objects if o["kind"] == "LimitRange" and namespace_of(o) == namespace]
    assert limits and all(item.get("default") and item.get("defaultRequest") for o in limits for item in o["spec"]["limits"])
