"""Destroy: `pulumi destroy` runs the graph backwards, deleting a resource only after every resource
that waits for it; resources that do not wait for each other are deleted side by side.

Findings (something would leak or hang):
- an Ingress, a load-balancer Service, or an InferenceService that KServe fronts with an Ingress,
  whose step does not wait for the load balancer controller's: the controller may be gone when it
  is deleted, so the ALB, its target groups and security group leak, and the object keeps the
  controller's finalizer, which stalls its namespace's deletion;
- a custom resource whose controller adds a finalizer (``FINALIZERS``) whose step does not wait
  for the controller's: it is deleted after its controller and hangs on the finalizer.
  (cert-manager puts no finalizer on Certificates, so they are not in the table.)
What the user must do by hand (a deliberate guard, or something left behind) is printed as a list,
not as findings: non-empty buckets and repositories without force-destroy, retained resources,
Retain PVs' EBS volumes, a database deleted without a final snapshot, CRDs Helm leaves behind.
Protected resources (prod) make `pulumi destroy` refuse: listed, and the run exits non-zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tooling import render
from tooling.simulate import kube
from tooling.simulate.awaits import DEFAULT_CLASS
from tooling.simulate.engine import RELEASE, Plan
from tooling.simulate.findings import Finding

# (API group, kind) -> (finalizer, image fragment of the controller that removes it).
FINALIZERS = {
    ("serving.kserve.io", "InferenceService"): ("inferenceservice.finalizers", "kserve-controller"),
}
ALB_CONTROLLER = "ingress.k8s.aws/alb"
NLB_CLASS = "service.k8s.aws/nlb"


@dataclass
class Teardown:
    """What `pulumi destroy` of the stack meets."""

    findings: list[Finding] = field(default_factory=list)
    must: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)


def _kserve_makes_ingresses(plan: Plan) -> bool:
    """Whether KServe's ingress config has it create an Ingress per InferenceService."""
    for o in plan.objects:
        if o.obj.get("kind") == "ConfigMap" and o.obj["metadata"]["name"] == "inferenceservice-config":
            try:
                ingress = json.loads((o.obj.get("data") or {}).get("ingress") or "{}")
            except ValueError:
                return False
            return bool(ingress.get("ingressClassName")) and not ingress.get("disableIngressCreation")
    return False


def _load_balanced(plan: Plan) -> list[render.Rendered]:
    """Objects the load balancer controller turns into AWS load balancers (directly or through KServe)."""
    fronted = _kserve_makes_ingresses(plan)
    found = []
    for o in plan.objects:
        kind, spec = o.obj.get("kind"), o.obj.get("spec") or {}
        if kind == "Ingress" or (kind == "Service" and spec.get("type") == "LoadBalancer") or (kind == "InferenceService" and fronted):
            found.append(o)
    return found


def _lb_findings(plan: Plan) -> list[Finding]:
    classes = [o for o in plan.objects if o.obj.get("kind") == "IngressClass" and (o.obj.get("spec") or {}).get("controller") == ALB_CONTROLLER]
    if not classes:
        return []
    controller = classes[0].source
    return [
        Finding(
            "destroy", kube.subject(o.obj),
            f"{plan.name(o.source)} does not wait for {plan.name(controller)}, so destroy may delete the controller first: "
            "the ALB, its target groups and security group leak and the object keeps its finalizer, stalling its namespace",
        )
        for o in _load_balanced(plan)
        if o.source != controller and not plan.waits_for(o.source, controller)
    ]


def _finalizer_findings(plan: Plan) -> list[Finding]:
    found = []
    for o in plan.objects:
        group, kind = render.identity(o.obj)[:2]
        if (group, kind) not in FINALIZERS:
            continue
        finalizer, image = FINALIZERS[(group, kind)]
        for controller in [c for c in plan.objects if kube.runs(c.obj, image)]:
            if not plan.waits_for(o.source, controller.source):
                found.append(Finding(
                    "destroy", kube.subject(o.obj),
                    f"{plan.name(o.source)} does not wait for {plan.name(controller.source)} ({kube.subject(controller.obj)}), "
                    f"so destroy may delete the controller first and the object hangs on its finalizer {finalizer}",
                ))
    return found


def _must(plan: Plan) -> list[str]:
    """What the user has to do by hand for `pulumi destroy` to finish, or after it."""
    must = []
    for r in plan.run.resources:
        inputs = r.inputs
        if r.retain_on_delete:
            must.append(f"{plan.name(r.urn)} is retained: destroy leaves it in the account; delete it by hand once it is not needed")
        elif r.type == "aws:s3/bucket:Bucket" and not inputs.get("forceDestroy"):
            must.append(f"empty bucket {inputs.get('bucket') or r.name} (every version) first: destroy refuses a non-empty bucket (BucketNotEmpty)")
        elif r.type == "aws:ecr/repository:Repository" and not inputs.get("forceDelete"):
            must.append(f"delete the images of repository {r.name} first: destroy refuses a non-empty repository")
        elif r.type == "aws:rds/instance:Instance" and inputs.get("skipFinalSnapshot"):
            must.append(f"snapshot {plan.name(r.urn)} first if its data matters: destroy deletes it without a final snapshot")
        elif r.type == "aws:rds/instance:Instance" and inputs.get("finalSnapshotIdentifier"):
            must.append(f"{plan.name(r.urn)} leaves final snapshot {inputs['finalSnapshotIdentifier']}: delete it by hand once it is not needed")
    classes = [o.obj for o in plan.objects if o.obj.get("kind") == "StorageClass"]
    retain = {c["metadata"]["name"] for c in classes if c.get("reclaimPolicy") == "Retain"}
    default = next((c["metadata"]["name"] for c in classes if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"), "")
    for o in plan.objects:
        for claim in kube.claims(o.obj):
            if ((claim.get("spec") or {}).get("storageClassName") or default) in retain:
                must.append(f"the EBS volumes of {kube.subject(o.obj)} stay (reclaimPolicy Retain): delete them once not needed")
    if not plan.run.settings.is_aws:
        kept = sorted({name for urn in plan.wave for name in plan.helm_crds(urn) if plan.by_urn[urn].type == RELEASE})
        if kept:
            must.append(f"Helm leaves the CRDs of charts' crds/ folders in the cluster: kubectl delete crd {' '.join(kept)}")
    return must


def teardown(plan: Plan) -> Teardown:
    """Findings, the user's list and the protected resources of `pulumi destroy`."""
    return Teardown(
        findings=[*_lb_findings(plan), *_finalizer_findings(plan)],
        must=sorted(_must(plan)),
        protected=sorted(plan.name(r.urn) for r in plan.run.resources if r.protect),
    )


def order(plan: Plan) -> list[list[str]]:
    """The destroy waves: first those no remaining resource waits for."""
    waiting: dict[str, set[str]] = {urn: set() for urn in plan.wave}
    for urn in plan.wave:
        for prereq in plan.prereqs(urn):
            waiting[prereq].add(urn)
    done: set[str] = set()
    waves = []
    while len(done) < len(waiting):
        wave = [urn for urn in plan.wave if urn not in done and waiting[urn] <= done]
        waves.append(sorted(plan.name(urn) for urn in wave))
        done |= set(wave)
    return waves
