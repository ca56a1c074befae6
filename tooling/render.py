"""What a stack's `pulumi up` would apply, as Kubernetes objects.

Under mocks a Helm release or a kustomize directory is only its inputs. Here each is rendered
from the upstream source at the pinned release (``../shared/upstream`` or ``.upstream``, see
``infra/versions.py``) with the real ``helm`` / ``kubectl kustomize`` and the exact inputs the
program registered; the program's own Kubernetes resources are turned back into manifests, and
its ``*Patch`` resources are merged into the objects they patch. The result is every object of
the stack, each with where it came from.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra import paths, versions
from tooling import crd, offline, vendored_crds
from tooling.mocks import Registration

ROOT = paths.ROOT
UPSTREAM_ROOTS = (ROOT.parent / "shared" / "upstream", ROOT / ".upstream")
KUBERNETES_VERSION = "1.35.0"
RELEASE = "kubernetes:helm.sh/v3:Release"
DIRECTORY = "kubernetes:kustomize/v2:Directory"
# API groups whose CRDs the stacks install, offered to `helm template` as available
# (charts gate objects such as ServiceMonitors on .Capabilities.APIVersions).
API_VERSIONS = ("monitoring.coreos.com/v1", "cert-manager.io/v1", "serving.kserve.io/v1beta1", "serving.kserve.io/v1alpha1")
KFP_REMOTE = re.compile(r"https://github\.com/kubeflow/pipelines/manifests/kustomize/([^?\s]+)\?ref=\S+")
ARGO_REMOTE = re.compile(r"https://github\.com/argoproj/argo-workflows/manifests/([^?\s]+)\?ref=\S+")


def helm_binary() -> str:
    local = ROOT / ".bin" / "helm"
    found = str(local) if local.exists() else shutil.which("helm")
    if not found:
        raise RuntimeError("no helm binary: run `make setup` (it installs one into .bin/)")
    return found


def upstream_root() -> Path | None:
    """The first upstream folder that holds every pinned release, or None."""
    folders = {chart.source.folder for chart in versions.CHARTS if chart.source} | {s.folder for s in versions.MANIFESTS}
    for root in UPSTREAM_ROOTS:
        if all((root / folder).is_dir() for folder in folders):
            return root
    return None


def _run(args: list[str], cwd: Path | None = None) -> str:
    env = {**os.environ, "HELM_CACHE_HOME": "/tmp/helm-cache", "HELM_CONFIG_HOME": "/tmp/helm-config", "HELM_DATA_HOME": "/tmp/helm-data"}
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args[:4])} ... failed: {result.stderr.strip()}")
    return result.stdout


def _documents(text: str) -> list[dict]:
    objects: list[dict] = []
    for doc in crd.documents(text):
        if doc.get("kind", "").endswith("List") and "items" in doc:
            objects += [item for item in doc["items"] if item]
        else:
            objects.append(doc)
    return objects


@dataclass(frozen=True)
class Rendered:
    """One object the stack applies and the resource it comes from (a release, a directory, or the program)."""

    source: str
    obj: dict


def chart_dir(release: Registration, root: Path) -> Path:
    """The chart a release installs: the pinned upstream copy, or the repository's own chart."""
    chart, version = release.inputs["chart"], release.inputs.get("version", "")
    for pinned in versions.CHARTS:
        if chart in (pinned.chart, pinned.name) and pinned.source:
            assert version == pinned.version, f"{release.urn}: version {version} is not the pin {pinned.version}"
            return root / pinned.upstream_dir
    local = (ROOT / chart).resolve()
    if local.is_dir():
        return local
    raise AssertionError(f"{release.urn}: chart {chart} is neither pinned in infra/versions.py nor in this repository")


# Subcharts a chart asks for that the upstream copy lacks (rendered without them; reported once).
MISSING_DEPENDENCIES: dict[str, list[str]] = {}


def _missing_dependencies(chart: str) -> list[dict]:
    """The dependencies ``chart`` asks for that its charts/ folder lacks, as a folder or as the archive
    `helm dependency build` leaves there (``<name>-<version>.tgz``)."""
    meta = yaml.safe_load((Path(chart) / "Chart.yaml").read_text())
    present = {p.name for p in (Path(chart) / "charts").iterdir()} if (Path(chart) / "charts").is_dir() else set()
    return [d for d in meta.get("dependencies") or [] if d["name"] not in present and f"{d['name']}-{d['version']}.tgz" not in present]


def _switched_off(conditions: list[str]) -> dict:
    """Values that turn each ``a.b.enabled`` condition off (every path of a comma-separated one)."""
    values: dict = {}
    for path in (path.strip() for condition in conditions for path in condition.split(",")):
        node = values
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = False
    return values


@functools.lru_cache(maxsize=64)
def _helm_template(name: str, chart: str, namespace: str, values_json: str) -> tuple[dict, ...]:
    missing = _missing_dependencies(chart)
    files = [values_json]
    if missing:
        # The upstream copy lacks these subcharts: render the chart's own templates with them
        # switched off (after the program's values), and report it (MISSING_DEPENDENCIES).
        MISSING_DEPENDENCIES[Path(chart).name] = [d["name"] for d in missing]
        files.append(json.dumps(_switched_off([d["condition"] for d in missing if d.get("condition")])))
        copy = Path(tempfile.mkdtemp(prefix="chart-")) / Path(chart).name
        shutil.copytree(chart, copy)
        meta = yaml.safe_load((copy / "Chart.yaml").read_text())
        meta["dependencies"] = [d for d in meta["dependencies"] if d not in missing]
        (copy / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        chart = str(copy)
    handles = []
    for content in files:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            handle.write(content)
        handles.append(handle.name)
    try:
        args = [helm_binary(), "template", name, chart, "--namespace", namespace, "--include-crds",
                "--kube-version", KUBERNETES_VERSION]
        for handle_name in handles:
            args += ["-f", handle_name]
        for api in API_VERSIONS:
            args += ["--api-versions", api]
        objects = _documents(_run(args))
    finally:
        for handle_name in handles:
            os.unlink(handle_name)
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition" and "namespace" not in obj.get("metadata", {}):
            obj.setdefault("metadata", {})["_namespaceDefault"] = namespace
    return tuple(objects)


# Charts whose packaging adds CRDs the chart's source lacks: chart name -> the value that switches them on.
PACKAGED_CRDS = {versions.EXTERNAL_SECRETS.name: "installCRDs"}


def packaged_crds(chart: str, values: dict) -> list[dict]:
    """The CRDs a packaged ``chart`` renders that its source does not (ESO's `make helm.generate` copies its
    bundle into templates/crds): from the bundle where an upstream root holds it, else those the program's
    objects use, vendored from the same commit (tooling/vendored_crds.py)."""
    if chart not in PACKAGED_CRDS or values.get(PACKAGED_CRDS[chart]) is False:
        return []
    source = versions.EXTERNAL_SECRETS_CRDS
    for root in UPSTREAM_ROOTS:
        bundle = root / source.folder / source.path / "bundle.yaml"
        if bundle.exists():
            return [obj for obj in _documents(bundle.read_text()) if obj.get("kind") == "CustomResourceDefinition"]
    return vendored_crds.load()


def render_release(release: Registration, root: Path) -> list[dict]:
    """`helm template` of the release's chart with exactly its registered values (and the CRDs its packaging adds)."""
    inputs = release.inputs
    values = json.dumps(inputs.get("values") or {}, sort_keys=True)
    name = inputs.get("name") or release.name
    chart = chart_dir(release, root)
    objects = [*_helm_template(name, str(chart), inputs["namespace"], values), *packaged_crds(chart.name, inputs.get("values") or {})]
    return [json.loads(json.dumps(o)) for o in objects]


def _localise(tree: Path, kfp: Path, argo: Path) -> None:
    """Point every remote KFP/Argo resource of the kustomizations under ``tree`` at the local copies."""
    for kustomization in tree.rglob("kustomization.yaml"):
        text = kustomization.read_text()
        here = kustomization.parent
        text = KFP_REMOTE.sub(lambda m, here=here: os.path.relpath(kfp / m.group(1), here), text)
        text = ARGO_REMOTE.sub(lambda m, here=here: os.path.relpath(argo / m.group(1).split("?")[0], here), text)
        kustomization.write_text(text)


@functools.lru_cache(maxsize=8)
def _kustomize(overlay: str, root: str) -> tuple[dict, ...]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kfp_folder, argo_folder = versions.KFP_SOURCE.folder, versions.ARGO_WORKFLOWS_SOURCE.folder
        shutil.copytree(Path(root) / kfp_folder, work / kfp_folder)
        shutil.copytree(Path(root) / argo_folder, work / argo_folder)
        shutil.copytree(paths.KFP_MANIFESTS, work / "overlays")
        kfp = work / kfp_folder / versions.KFP_SOURCE.path
        argo = work / argo_folder / versions.ARGO_WORKFLOWS_SOURCE.path
        _localise(work, kfp, argo)
        return tuple(_documents(_run(["kubectl", "kustomize", str(work / "overlays" / overlay)])))


def render_directory(directory: Registration, root: Path) -> list[dict]:
    """`kubectl kustomize` of the program's overlay on the upstream KFP (and Argo) manifests."""
    path = (Path.cwd() / directory.inputs["directory"]).resolve()
    overlay = path.relative_to(paths.KFP_MANIFESTS)
    return [json.loads(json.dumps(o)) for o in _kustomize(str(overlay), str(root))]


def render_kfp_upstream(root: Path, overlay: str = "env/platform-agnostic") -> list[dict]:
    """Upstream's own platform-agnostic KFP, unchanged: what the overlays start from."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(root / versions.KFP_SOURCE.folder, work / "kfp")
        shutil.copytree(root / versions.ARGO_WORKFLOWS_SOURCE.folder, work / "argo")
        _localise(work, work / "kfp" / versions.KFP_SOURCE.path, work / "argo" / versions.ARGO_WORKFLOWS_SOURCE.path)
        return _documents(_run(["kubectl", "kustomize", str(work / "kfp" / versions.KFP_SOURCE.path / overlay)]))


def manifest_of(resource: Registration) -> dict | None:
    """A program-declared Kubernetes resource as the manifest the provider applies (None for others)."""
    parts = resource.type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or resource.type in (RELEASE, DIRECTORY):
        return None
    group_version, kind = parts[1], parts[2]
    if group_version.startswith(("helm.sh", "kustomize", "yaml")):
        return None
    return {**json.loads(json.dumps(resource.inputs)), "apiVersion": group_version.removeprefix("core/"), "kind": kind}


def _merge(base: Any, patch: Any) -> Any:
    """A strategic-merge approximation for the fields the program patches (maps merge, lists by name)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(i, dict) and "name" in i for i in base + patch):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            by_name[item["name"]] = _merge(by_name.get(item["name"], {}), item)
        return list(by_name.values())
    return patch


def identity(obj: dict) -> tuple[str, str, str, str]:
    """(API group, kind, namespace, name): what the API server keys an object by."""
    metadata = obj.get("metadata", {})
    group = obj.get("apiVersion", "").rpartition("/")[0]
    namespace = metadata.get("namespace") or metadata.get("_namespaceDefault", "")
    return group, obj.get("kind", ""), namespace, metadata.get("name", "")


def namespace_of(obj: dict) -> str:
    return identity(obj)[2]


def stack_objects(run: offline.OfflineRun, root: Path) -> list[Rendered]:
    """Every object the stack applies: program resources, rendered releases and kustomizations, patches merged."""
    objects: list[Rendered] = []
    patches: list[tuple[Registration, dict]] = []
    for resource in run.resources:
        if resource.type == RELEASE:
            objects += [Rendered(resource.urn, obj) for obj in render_release(resource, root)]
        elif resource.type == DIRECTORY:
            objects += [Rendered(resource.urn, obj) for obj in render_directory(resource, root)]
        elif (manifest := manifest_of(resource)) is not None:
            if manifest["kind"].endswith("Patch"):
                manifest["kind"] = manifest["kind"].removesuffix("Patch")
                patches.append((resource, manifest))
            else:
                objects.append(Rendered(resource.urn, manifest))
    for resource, patch in patches:
        targets = [r for r in objects if identity(r.obj) == identity(patch)]
        assert len(targets) == 1, f"{resource.urn}: patches {identity(patch)}, which the stack declares {len(targets)} times"
        targets[0].obj.update(_merge(targets[0].obj, {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}))
    return objects

