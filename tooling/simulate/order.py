"""Order: every object is created after what the API server needs to accept it.

- A custom resource after the step that installs its CRD: a Helm release maps every kind of its
  templates before it creates anything ("resource mapping not found"), and pulumi-kubernetes retries a
  missing kind only five times (provider/pkg/await/await.go, Creation). Inside one source it is fine
  when the CRD is applied first: a chart's crds/ folder (Helm installs it before the templates) or a
  kustomize/v2 Directory (pulumi-kubernetes registers the objects in cli-utils' dependency order,
  CRDs and Namespaces first: provider/pkg/provider/yaml/v2/yaml.go, Register).
- A namespaced object after its Namespace (one of the cluster's own, one the stack creates in a step
  it waits for, or one its own release or directory creates first).
- An object a fail-closed admission webhook intercepts after the webhook's backend is ready (its
  source waits for the step that awaits the Deployment behind the webhook's Service), or before the
  webhook exists. Inside one Helm release the webhook configurations are created last (Helm's
  InstallOrder), so a release's own objects are safe; inside a Directory they race.
  Pods that controllers create at run time are retried by their controllers and are not checked.
"""

from __future__ import annotations

from tooling import render
from tooling.simulate import kube
from tooling.simulate.engine import DIRECTORY, FIRST, POST_HOOK, RELEASE, Plan
from tooling.simulate.findings import Finding


def _crd_findings(plan: Plan) -> list[Finding]:
    found = []
    crds = kube.crds_of(plan.objects)
    for o in plan.objects:
        group, kind = render.identity(o.obj)[:2]
        if group in kube.BUILTIN_GROUPS:
            continue
        crd = crds.get((group, kind))
        if crd is None:
            found.append(Finding("order", kube.subject(o.obj), f"no CustomResourceDefinition in the stack defines {group}/{kind}"))
            continue
        if plan.waits_for(o.source, crd.source):
            continue
        same = o.source == crd.source
        if same and (plan.by_urn[o.source].type == DIRECTORY or plan.timing(crd).phase == FIRST):
            continue
        where = (
            f"its CRD {crd.obj['metadata']['name']} is in the templates of the same release, which Helm maps before creating anything (move it to crds/ or a release it depends on)"
            if same else
            f"{plan.name(o.source)} (wave {plan.wave[o.source]}) does not wait for {plan.name(crd.source)} (wave {plan.wave[crd.source]}), which installs its CRD {crd.obj['metadata']['name']}"
        )
        found.append(Finding("order", kube.subject(o.obj), where))
    return found


def _namespace_findings(plan: Plan) -> list[Finding]:
    found = []
    for o in plan.objects:
        namespace = render.namespace_of(o.obj)
        if not namespace or namespace in kube.CLUSTER_NAMESPACES or o.obj.get("kind") == "Namespace":
            continue
        source = plan.by_urn[o.source]
        if source.type == RELEASE and source.inputs.get("createNamespace") and source.inputs.get("namespace") == namespace:
            continue
        creators = [n for n in plan.objects if n.obj.get("kind") == "Namespace" and n.obj["metadata"]["name"] == namespace]
        if any(plan.waits_for(o.source, n.source) or n.source == o.source for n in creators):
            continue
        reason = (
            f"{plan.name(o.source)} (wave {plan.wave[o.source]}) does not wait for {plan.name(creators[0].source)} (wave {plan.wave[creators[0].source]}), which creates Namespace {namespace}"
            if creators else f"no step of the stack creates Namespace {namespace}"
        )
        found.append(Finding("order", kube.subject(o.obj), reason))
    return found


def backends(plan: Plan, webhook: kube.Webhook) -> list[render.Rendered]:
    """The workloads behind a webhook's Service."""
    namespace, name, _ = webhook.service
    service = kube.find(plan.objects, "Service", namespace, name)
    return kube.backends(service.obj, plan.objects) if service else []


def _served_before(plan: Plan, o: render.Rendered, webhook: kube.Webhook, behind: list[render.Rendered]) -> bool:
    """Whether ``webhook`` cannot refuse ``o`` for want of a ready backend."""
    config = webhook.config.source
    ready = bool(behind) and all(plan.waits_for(o.source, b.source) and plan.is_awaited(b) for b in behind)
    if o.source == config and plan.by_urn[config].type == RELEASE:
        # Created before the webhook configurations; post-install hooks after the release's --wait.
        if plan.timing(o).phase != POST_HOOK:
            return True
        return bool(behind) and all(b.source == config and plan.is_awaited(b) for b in behind)
    return ready or plan.waits_for(config, o.source)


def _webhook_findings(plan: Plan) -> list[Finding]:
    found = []
    crds = {key: o.obj for key, o in kube.crds_of(plan.objects).items()}
    labels = {ns: kube.namespace_labels(plan.objects, ns) for ns in {render.namespace_of(o.obj) for o in plan.objects}}
    for webhook in kube.webhooks(plan.objects):
        if not webhook.fails_closed:
            continue
        behind = backends(plan, webhook)
        what = ", ".join(f"{kube.subject(b.obj)} ({plan.name(b.source)})" for b in behind) or f"Service {'/'.join(webhook.service[:2])}, which selects no workload of the stack"
        for o in plan.objects:
            if o is webhook.config or not webhook.matches(o.obj, kube.plural(o.obj.get("kind", ""), crds), labels[render.namespace_of(o.obj)]):
                continue
            if not _served_before(plan, o, webhook, behind):
                found.append(Finding(
                    "order", kube.subject(o.obj),
                    f"{plan.name(o.source)} (wave {plan.wave[o.source]}) may create it while fail-closed webhook {webhook.name} "
                    f"has no ready backend: it does not wait for {what}",
                ))
    return found


def findings(plan: Plan) -> list[Finding]:
    """Every object created before what admits it."""
    return [*_crd_findings(plan), *_namespace_findings(plan), *_webhook_findings(plan)]
