"""References: every object a pod template names exists when its pods start, with what it must carry then.

A pod names its ServiceAccount, the Secrets and ConfigMaps of its volumes (projected sources too)
and of its env (``valueFrom`` and ``envFrom``; optional ones aside), and its PVCs. Each must be an
object of the stack created no later than the pod's wave, or one a named creator writes at run time
(``RUNTIME_CREATORS`` and the creators read from the stack: cert-manager for a Certificate's
``secretName``, kube-webhook-certgen hook Jobs for their ``--secret-name``). A creator that cannot
work on EKS is a finding there. An IRSA role annotation must be on the ServiceAccount before the
pods that use it are created: EKS's pod identity webhook injects credentials only at pod creation
(aws/amazon-eks-pod-identity-webhook#28), so a ServiceAccountPatch that adds it after the workload
exists leaves those pods without AWS credentials until they are recreated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tooling import render
from tooling.simulate import kube
from tooling.simulate.engine import Plan
from tooling.simulate.findings import Finding

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass(frozen=True)
class Creator:
    """Something that writes an object at run time: who, what it writes, the workload that does it, and
    why it does not work on EKS ("" when it does)."""

    who: str
    kind: str
    name: str
    carrier: str = ""  # a fragment of the image or command of the workload that writes it ("": the cluster itself)
    on_eks: str = ""


RUNTIME_CREATORS = (
    # kube-controller-manager's serviceaccount and root-ca-cert-publisher controllers, in every namespace.
    Creator("kube-controller-manager", "ServiceAccount", "default"),
    Creator("kube-controller-manager", "ConfigMap", "kube-root-ca.crt"),
    # The argo-cd chart's pre-install hook generates Redis's password.
    Creator("Argo CD's redis-secret-init hook", "Secret", "argocd-redis", carrier="redis-initial-password"),
    # KFP's cache-deployer has its webhook certificate signed through a CertificateSigningRequest
    # for the kubernetes.io/kubelet-serving signer, which EKS signs only for nodes' own requests.
    Creator(
        "KFP's cache-deployer", "Secret", "webhook-server-tls", carrier="kfp-cache-deployer",
        on_eks="its creator, KFP's cache-deployer, has it signed through a kubernetes.io/kubelet-serving CSR, which EKS "
               "signs only for nodes (kubeflow/manifests#2165, #2146; kubeflow/pipelines#4505): the pods never start; "
               "issue it with a cert-manager Certificate",
    ),
)


def pod_references(spec: dict) -> list[tuple[str, str]]:
    """(kind, name) of every object a pod spec needs to start (optional references aside)."""
    refs = [("ServiceAccount", spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")]
    for volume in spec.get("volumes") or []:
        if "secret" in volume and not volume["secret"].get("optional"):
            refs.append(("Secret", volume["secret"]["secretName"]))
        if "configMap" in volume and not volume["configMap"].get("optional"):
            refs.append(("ConfigMap", volume["configMap"]["name"]))
        if "persistentVolumeClaim" in volume:
            refs.append(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
        for source in (volume.get("projected") or {}).get("sources") or []:
            for kind, key in (("Secret", "secret"), ("ConfigMap", "configMap")):
                if key in source and not source[key].get("optional"):
                    refs.append((kind, source[key]["name"]))
    for container in kube.containers(spec):
        for env in container.get("env") or []:
            for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                ref = (env.get("valueFrom") or {}).get(key)
                if ref and not ref.get("optional"):
                    refs.append((kind, ref["name"]))
        for env in container.get("envFrom") or []:
            for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                if key in env and not env[key].get("optional"):
                    refs.append((kind, env[key]["name"]))
    return list(dict.fromkeys(refs))


# The External Secrets Operator's controller image: an ExternalSecret's Secret exists once it runs.
ESO_IMAGE = "external-secrets/external-secrets"


def _operator_runs_before(plan: Plan, o: render.Rendered) -> bool:
    """Whether the External Secrets Operator's controller is awaited before ``o``'s step applies it."""
    controllers = [c for c in plan.objects if c.obj.get("kind") == "Deployment" and kube.runs(c.obj, ESO_IMAGE)]
    return bool(controllers) and any(plan.waits_for(o.source, c.source) and plan.is_awaited(c) for c in controllers)


def _stack_creators(plan: Plan, namespace: str) -> dict[tuple[str, str], tuple[str, render.Rendered]]:
    """(kind, name) -> (who, the object that makes it) for run-time objects the stack's own objects imply."""
    found: dict[tuple[str, str], tuple[str, render.Rendered]] = {}
    for o in plan.objects:
        if render.namespace_of(o.obj) != namespace:
            continue
        if o.obj.get("kind") == "ExternalSecret" and o.obj.get("apiVersion", "").startswith("external-secrets.io/"):
            # The operator writes the Secret once the ExternalSecret is applied; its step awaits the sync (Ready).
            target = ((o.obj.get("spec") or {}).get("target") or {}).get("name") or o.obj["metadata"]["name"]
            who = f"the External Secrets Operator ({kube.subject(o.obj)})"
            if not _operator_runs_before(plan, o):
                who += ", which no running operator syncs: its step does not wait for the operator's controller"
            found[("Secret", target)] = (who, o)
        if o.obj.get("kind") == "Certificate" and o.obj.get("apiVersion", "").startswith("cert-manager.io/"):
            found[("Secret", o.obj["spec"]["secretName"])] = (f"cert-manager ({kube.subject(o.obj)})", o)
        template = kube.pod_template(o.obj)
        for container in kube.containers(template[0]) if template and o.obj.get("kind") == "Job" else []:
            for arg in [*(container.get("args") or []), *(container.get("command") or [])]:
                if match := re.fullmatch(r"--secret-name=(\S+)", str(arg)):
                    found.setdefault(("Secret", match.group(1)), (f"{kube.subject(o.obj)} (kube-webhook-certgen)", o))
    for creator in RUNTIME_CREATORS:
        carriers = [o for o in plan.objects if creator.carrier and render.namespace_of(o.obj) == namespace and kube.runs(o.obj, creator.carrier)]
        if carriers:
            found.setdefault((creator.kind, creator.name), (creator.who, carriers[0]))
    return found


def _missing(plan: Plan, o: render.Rendered, kind: str, namespace: str, name: str) -> str:
    """Why the reference cannot be met when the pods start ("" when it can)."""
    made = [r for r in plan.objects if render.identity(r.obj)[1:] == (kind, namespace, name)]
    if made:
        first = min(made, key=lambda r: plan.wave[r.source])
        if first.source != o.source and plan.wave[first.source] > plan.wave[o.source]:
            return f"it is created in wave {plan.wave[first.source]} by {plan.name(first.source)}, after the pods start (wave {plan.wave[o.source]})"
        return ""
    if any(c.kind == kind and c.name == name and not c.carrier for c in RUNTIME_CREATORS):
        return ""
    creator = _stack_creators(plan, namespace).get((kind, name))
    if creator is None:
        return "nothing in the stack creates it"
    who, carrier = creator
    if "which no running operator syncs" in who:
        return f"its creator is {who}"
    broken = next((c.on_eks for c in RUNTIME_CREATORS if c.who == who and c.on_eks), "")
    if broken and plan.run.settings.is_aws:
        return broken
    if carrier.source != o.source and plan.wave[carrier.source] > plan.wave[o.source]:
        return f"its creator {who} comes in wave {plan.wave[carrier.source]}, after the pods start (wave {plan.wave[o.source]})"
    return ""


def _irsa_findings(plan: Plan) -> list[Finding]:
    found = []
    for patch in plan.run.of_type("kubernetes:core/v1:ServiceAccountPatch"):
        metadata = patch.inputs.get("metadata") or {}
        if IRSA_ANNOTATION not in (metadata.get("annotations") or {}):
            continue
        namespace, name = metadata.get("namespace", "default"), metadata.get("name")
        users = [
            o for o in plan.objects
            if (t := kube.pod_template(o.obj)) and render.namespace_of(o.obj) == namespace
            and pod_references(t[0])[0] == ("ServiceAccount", name) and not plan.waits_for(o.source, patch.urn)
        ]
        if users:
            who = ", ".join(kube.subject(u.obj) for u in users)
            found.append(Finding(
                "references", f"ServiceAccount {namespace}/{name}",
                f"its {IRSA_ANNOTATION} annotation comes from ServiceAccountPatch {patch.name} (wave {plan.wave[patch.urn]}), after the pods of "
                f"{who} are created: EKS injects credentials only at pod creation (aws/amazon-eks-pod-identity-webhook#28); "
                "annotate the ServiceAccount where it is created",
            ))
    return found


def findings(plan: Plan) -> list[Finding]:
    """Every reference a pod template cannot meet when its pods start."""
    found = []
    for o in plan.objects:
        template = kube.pod_template(o.obj)
        refs = pod_references(template[0]) if template else []
        if o.obj.get("kind") == "InferenceService":
            refs = [("ServiceAccount", ((o.obj.get("spec") or {}).get("predictor") or {}).get("serviceAccountName") or "default")]
        namespace = render.namespace_of(o.obj)
        for kind, name in refs:
            if reason := _missing(plan, o, kind, namespace, name):
                found.append(Finding("references", kube.subject(o.obj), f"needs {kind} {namespace}/{name}: {reason}"))
    return [*found, *_irsa_findings(plan)]
