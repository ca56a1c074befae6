"""Pod rules: the Pod Security profile of the namespace, requests and limits, credentials never literal, and the
platform's own workloads hardened beyond the profile (read-only root filesystem)."""

from __future__ import annotations

import re

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from infra.pod_security import violations
from policies.helpers import SECURITY, get, message, rule
from policies.k8s import containers, pod_spec, rendered_by_third_party
from policies.namespaces import EXCEPTIONS

# The workloads the program declares itself (not the pods operators make from them at run time).
PLATFORM_WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob")


@rule("containers-restricted", "Containers run as non-root, unprivileged, with no privilege escalation and ALL dropped.",
      SECURITY, Severity.HIGH, "Apply the restricted security contexts.")
def container_security(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args)
    if spec is None:
        return
    # The namespace's level from the table: restricted, or its documented exception (the GPU device plugin's hostPath).
    level = EXCEPTIONS.get(get(args.props, "metadata.namespace", ""), "restricted")
    problems = violations(spec, level)
    if problems:
        report(message(
            f"{args.resource_type.rsplit(':', 1)[-1]} {get(args.props, 'metadata.name')} breaks the {level} profile: {'; '.join(problems[:4])}.",
            "a root, privileged or capability-holding container turns one bug into a node compromise.",
            "set runAsNonRoot, seccomp RuntimeDefault, allowPrivilegeEscalation false and drop ALL capabilities.",
        ))


@rule("containers-resources", "Containers set CPU and memory requests and limits.",
      SECURITY, Severity.MEDIUM, "Set requests and limits.")
def container_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args)
    if spec is None:
        return
    for container in containers(spec):
        resources = container.get("resources") or {}
        missing = [f"{kind}.{res}" for kind in ("requests", "limits") for res in ("cpu", "memory") if res not in (resources.get(kind) or {})]
        if missing:
            report(message(
                f"Container {container.get('name')} of {get(args.props, 'metadata.name')} has no {', '.join(missing)}.",
                "unbounded containers starve their neighbours and defeat the quotas and the autoscaler.",
                "set CPU and memory requests and limits.",
            ))


def _hardening_gaps(spec: dict) -> list[str]:
    pod_non_root = (spec.get("securityContext") or {}).get("runAsNonRoot")
    gaps = []
    for container in containers(spec):
        context = container.get("securityContext") or {}
        name = container.get("name")
        if context.get("runAsNonRoot", pod_non_root) is not True:
            gaps.append(f"{name}: runAsNonRoot is not true")
        if context.get("readOnlyRootFilesystem") is not True:
            gaps.append(f"{name}: readOnlyRootFilesystem is not true")
        if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
            gaps.append(f"{name}: capabilities do not drop ALL")
    return gaps


@rule("platform-workloads-hardened", "The platform's own Deployments, StatefulSets, Jobs and CronJobs run as non-root, with a "
      "read-only root filesystem and ALL capabilities dropped.",
      SECURITY, Severity.HIGH, "Use infra/workload_security.py's pod_security() and container_security() on every container.")
def platform_workloads_hardened(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in PLATFORM_WORKLOADS or rendered_by_third_party(args):
        return
    gaps = _hardening_gaps(pod_spec(args) or {})
    if gaps:
        report(message(
            f"{args.resource_type.rsplit(':', 1)[-1]} {get(args.props, 'metadata.name')} is not hardened: {'; '.join(gaps[:4])}.",
            "a compromised process could run as root, keep kernel capabilities, or rewrite its own binaries and persist in the container.",
            "apply workload_security.pod_security() to the pod and container_security() (readOnlyRootFilesystem, drop ALL) to each "
            "container; mount an emptyDir where it must write.",
        ))


# An env var named like a credential, or a value that carries one (user:password@ in a URI).
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_?KEY|ACCESS_?KEY|API_?KEY|CREDENTIAL", re.IGNORECASE)
# ... unless it names where a credential is kept rather than holding it (KServe's SECRET_NAME, a *_FILE path).
REFERENCE_NAME = re.compile(r"_(NAME|FILE|PATH|DIR|REF|ARN|KEY_ID|NAMESPACE)$", re.IGNORECASE)
SECRET_VALUE = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


@rule("secrets-not-in-env-values", "Credentials reach containers through Secrets (secretKeyRef or a mounted file), never as literal env values.",
      SECURITY, Severity.HIGH, "Put the value in a Secret and reference it with valueFrom.secretKeyRef.")
def secrets_not_in_env_values(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args)
    if spec is None:
        return
    for container in containers(spec):
        for env in container.get("env") or []:
            value = env.get("value")
            name = env.get("name", "")
            if isinstance(value, str) and value and ((SECRET_NAME.search(name) and not REFERENCE_NAME.search(name)) or SECRET_VALUE.search(value)):
                report(message(
                    f"Container {container.get('name')} gets {env.get('name')} as a literal value.",
                    "the credential sits in the workload's spec, readable by anyone who can read Deployments, and in Pulumi's state.",
                    "store it in a Secret and use valueFrom.secretKeyRef (or mount it as a file).",
                ))
