"""The Pulumi engine's order on a fresh cluster: who waits for whom, in waves, and what each step awaits.

A resource starts once its parent is registered and every resource it depends on has completed
(created and, for the kinds the provider awaits, ready). A component (``mlplatform:*``) is logical:
it registers once its own dependencies have completed, so its children wait for them too, and a
dependency on a component is one on each resource under it. Wave n holds the resources whose
prerequisites all lie in waves before n; a wave number is a picture, not a guarantee: only a
dependency path orders two resources (``waits_for``). Objects rendered from a release or a
kustomize directory take their source's wave and a phase inside it (``Timing``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from tooling import crd, offline, render
from tooling.mocks import Registration

RELEASE, DIRECTORY = render.RELEASE, render.DIRECTORY
# pulumi-kubernetes' Helm Release: `helm install --wait --timeout 300s` unless skipAwait
# (provider/pkg/provider/helm_release.go: defaultTimeoutSeconds = 300; client.Wait = !SkipAwait).
HELM_DEFAULT_TIMEOUT_S = 300
# pulumi-kubernetes awaits these kinds of its own resources (and of a kustomize/v2 Directory's objects),
# each for 10 minutes by default (provider/pkg/await: Default<Kind>TimeoutMins = 10).
KUBE_AWAIT_TIMEOUT_S = 600
KUBE_AWAITED = ("Deployment", "StatefulSet", "DaemonSet", "Job", "Pod", "Ingress")
# What `helm install --wait` waits for (Helm 3 kube.ReadyChecker; Jobs only with waitForJobs).
HELM_AWAITED = ("Deployment", "StatefulSet", "DaemonSet", "Pod")
# Kinds shown as what a step awaits (Services and PVCs are awaited too, but say little to a reviewer).
SHOWN = ("Deployment", "StatefulSet", "DaemonSet", "Job")
# Phases of an object inside its source: a Helm chart's crds/ folders first, then pre-install hooks,
# the templates, post-install hooks (after --wait); kustomize v2 applies CRDs and Namespaces first.
FIRST, PRE_HOOK, MAIN, POST_HOOK = 0, 1, 2, 3


def short_type(resource_type: str) -> str:
    """``aws:ec2/vpcEndpoint:VpcEndpoint`` -> ``VpcEndpoint``; a provider -> ``Provider``."""
    return "Provider" if resource_type.startswith("pulumi:providers:") else resource_type.rsplit(":", 1)[-1]


def is_logical(resource: Registration) -> bool:
    """A component of the program: it creates nothing itself."""
    return resource.type.startswith("mlplatform:")


def hook_phases(obj: dict) -> tuple[str, ...]:
    """The Helm hooks an object is (empty for an ordinary object)."""
    hooks = (obj.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook", "")
    return tuple(h.strip() for h in hooks.split(",") if h.strip())


def installed(obj: dict) -> bool:
    """Whether `helm install` creates it (test hooks run only under `helm test`)."""
    phases = hook_phases(obj)
    return not phases or any(p in ("pre-install", "post-install") for p in phases)


_CRD_KIND = re.compile(r"^kind:\s*CustomResourceDefinition\s*$", re.M)
_METADATA_NAME = re.compile(r"^metadata:[ \t]*\n(?:(?:[ \t]+.*)?\n)*?[ \t]{2}name:[ \t]*['\"]?([\w.-]+)", re.M)


@functools.lru_cache(maxsize=32)
def _crds_folder_names(chart: str) -> frozenset[str]:
    """Names of the CRDs in a chart's (and its subcharts') ``crds/`` folders, which Helm installs first.

    Read with a pattern over block-style YAML (the CRDs are megabytes: parsing them costs seconds);
    a document the pattern cannot name is parsed.
    """
    names = set()
    for path in sorted(Path(chart).rglob("*")):
        if path.parent.name != "crds" or path.suffix not in (".yaml", ".yml") or "templates" in path.parts:
            continue
        for document in re.split(r"^---.*$", path.read_text(), flags=re.M):
            if not _CRD_KIND.search(document):
                continue
            if match := _METADATA_NAME.search(document):
                names.add(match.group(1))
            else:
                names |= {d["metadata"]["name"] for d in crd.documents(document) if d.get("kind") == "CustomResourceDefinition"}
    return frozenset(names)


@dataclass(frozen=True)
class Timing:
    """When an object is created: its source's wave and its phase inside that source."""

    source: str
    wave: int
    phase: int


class Plan:
    """The resource graph of one run as the engine schedules it on a fresh cluster."""

    def __init__(self, run: offline.OfflineRun, objects: list[render.Rendered], root: Path | None = None) -> None:
        self.run = run
        self.by_urn = {r.urn: r for r in run.resources}
        self.children: dict[str, list[str]] = {}
        for resource in run.resources:
            self.children.setdefault(resource.parent, []).append(resource.urn)
        self.objects = [o for o in objects if installed(o.obj)]
        self._root = root
        self._prereqs: dict[str, frozenset[str]] = {}
        self._closure: dict[str, frozenset[str]] = {}
        self._awaited: dict[str, list[dict]] = {}
        self.wave: dict[str, int] = {}
        for resource in run.resources:
            if not is_logical(resource):
                self._wave(resource.urn)

    # The graph.
    def _real_under(self, urn: str) -> set[str]:
        found: set[str] = set()
        for child in self.children.get(urn, []):
            found |= self._real_under(child) if is_logical(self.by_urn[child]) else {child} | self._real_under(child)
        return found

    def prereqs(self, urn: str) -> frozenset[str]:
        """The real resources ``urn`` directly waits for: its dependencies, its provider and its parent."""
        if urn in self._prereqs:
            return self._prereqs[urn]
        resource = self.by_urn[urn]
        found: set[str] = set()
        for dependency in resource.dependencies:
            if dependency in self.by_urn:
                found |= self._real_under(dependency) if is_logical(self.by_urn[dependency]) else {dependency}
        provider = resource.provider.rsplit("::", 1)[0]
        if provider in self.by_urn:
            found.add(provider)
        parent = self.by_urn.get(resource.parent)
        if parent is not None:
            found |= self.prereqs(parent.urn) if is_logical(parent) else {parent.urn}
        found.discard(urn)
        self._prereqs[urn] = frozenset(found)
        return self._prereqs[urn]

    def _wave(self, urn: str) -> int:
        if urn not in self.wave:
            self.wave[urn] = 1 + max((self._wave(p) for p in self.prereqs(urn)), default=0)
        return self.wave[urn]

    def closure(self, urn: str) -> frozenset[str]:
        """Every real resource ``urn`` waits for, directly or through others."""
        if urn not in self._closure:
            found: set[str] = set()
            for prereq in self.prereqs(urn):
                found |= {prereq} | self.closure(prereq)
            self._closure[urn] = frozenset(found)
        return self._closure[urn]

    def waits_for(self, urn: str, other: str) -> bool:
        """Whether ``urn`` starts only after ``other`` has completed."""
        return other in self.closure(urn)

    def waves(self) -> list[list[Registration]]:
        """The real resources by wave (first wave first), each wave in registration order."""
        count = max(self.wave.values(), default=0)
        return [[r for r in self.run.resources if self.wave.get(r.urn) == n] for n in range(1, count + 1)]

    # Objects.
    def name(self, urn: str) -> str:
        """``Release cert-manager``: the short type and name a reviewer sees."""
        resource = self.by_urn[urn]
        return f"{short_type(resource.type)} {resource.name}"

    def helm_crds(self, urn: str) -> frozenset[str]:
        """CRDs the release installs from crds/ folders (before its templates); none without the upstream root."""
        resource = self.by_urn[urn]
        if resource.type != RELEASE or self._root is None:
            return frozenset()
        return _crds_folder_names(str(render.chart_dir(resource, self._root)))

    def timing(self, rendered: render.Rendered) -> Timing:
        """When ``rendered`` is created."""
        obj, source = rendered.obj, rendered.source
        resource = self.by_urn[source]
        phase = MAIN
        hooks = hook_phases(obj)
        if resource.type == RELEASE:
            if obj.get("kind") == "CustomResourceDefinition" and obj["metadata"]["name"] in self.helm_crds(source):
                phase = FIRST
            elif "pre-install" in hooks:
                phase = PRE_HOOK
            elif "post-install" in hooks:
                phase = POST_HOOK
        elif resource.type == DIRECTORY and obj.get("kind") in ("CustomResourceDefinition", "Namespace"):
            phase = FIRST
        return Timing(source, self.wave[source], phase)

    def awaits(self, urn: str) -> bool:
        """Whether the step of ``urn`` waits for its workloads to be ready."""
        inputs = self.by_urn[urn].inputs
        return not inputs.get("skipAwait")

    def timeout(self, urn: str) -> int:
        """How long the step of ``urn`` may wait, in seconds (0 when it awaits nothing)."""
        resource = self.by_urn[urn]
        if resource.type == RELEASE:
            return int(resource.inputs.get("timeout") or HELM_DEFAULT_TIMEOUT_S)
        return KUBE_AWAIT_TIMEOUT_S if self.awaited(urn) else 0

    def is_awaited(self, rendered: render.Rendered) -> bool:
        """Whether the step that creates ``rendered`` waits for it to be ready."""
        return any(o is rendered.obj for o in self.awaited(rendered.source))

    def awaited(self, urn: str) -> list[dict]:
        """The objects the step of ``urn`` waits for (a release's hooks always; its workloads unless skipAwait)."""
        if urn not in self._awaited:
            self._awaited[urn] = self._awaited_objects(urn)
        return self._awaited[urn]

    def _awaited_objects(self, urn: str) -> list[dict]:
        resource = self.by_urn[urn]
        objects = [o.obj for o in self.objects if o.source == urn]
        if resource.type == RELEASE:
            kinds = HELM_AWAITED + (("Job",) if resource.inputs.get("waitForJobs") else ())
            hooks = [o for o in objects if hook_phases(o) and o.get("kind") in ("Job", "Pod")]
            main = [o for o in objects if not hook_phases(o) and o.get("kind") in kinds] if self.awaits(urn) else []
            return main + hooks
        if resource.type == DIRECTORY and not self.awaits(urn):
            return []
        return [o for o in objects if o.get("kind") in KUBE_AWAITED and not skip_await(o)]

    def sources_of(self, obj: dict) -> list[render.Rendered]:
        """The stack's objects with the identity of ``obj``."""
        key = render.identity(obj)
        return [o for o in self.objects if render.identity(o.obj) == key]


def skip_await(obj: dict) -> bool:
    """pulumi-kubernetes' per-object opt-out (the ``pulumi.com/skipAwait`` annotation)."""
    return (obj.get("metadata", {}).get("annotations") or {}).get("pulumi.com/skipAwait") == "true"
