"""A stack's resource graph as JSON, secrets masked: what the offline preview diff compares.

    python -m tooling.snapshot --stack staging [--override key=value ...]

Run in a checkout of any revision (the diff runs it at the base and at the head).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml

from infra.config import ConfigError
from tooling import offline
from tooling.offline import SECRET

# The diff sets one random key for both of its snapshots (base and head), so that a changed secret
# shows as changed; the digest is keyed, never printed, and means nothing outside that one diff.
DIGEST_KEY_ENV = "MLPLATFORM_SNAPSHOT_KEY"
DIGEST_KEY = os.environ.get(DIGEST_KEY_ENV) or secrets.token_hex(32)
ROOT = Path(__file__).resolve().parents[1]
# Resources whose input names a local folder the provider reads (an overlay, a chart): the engine, and
# so the diff of inputs, sees only the path, not an edit to a file in it.
LOCAL_SOURCES = {"kubernetes:kustomize/v2:Directory": "directory", "kubernetes:helm.sh/v3:Release": "chart"}
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def masked(value: Any) -> str:
    """``[secret]#<keyed digest>``: equal for equal values within one diff, and not the value."""
    digest = hmac.new(DIGEST_KEY.encode(), json.dumps(value, sort_keys=True, default=str).encode(), hashlib.sha256).hexdigest()[:16]
    return f"{SECRET}#{digest}"


def is_secret(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SECRET)


def mask(value: Any, secret_paths: tuple[str, ...], path: str = "") -> Any:
    """``value`` with every secret path replaced by :func:`masked`."""
    if path in secret_paths:
        return masked(value)
    if isinstance(value, dict):
        return {k: mask(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _kustomization_files(folder: Path, seen: set[Path]) -> set[Path]:
    """The files a kustomization applies: itself and every local resource, component, patch and generator file, recursively."""
    if folder in seen:
        return set()
    seen.add(folder)
    kustomization = next((folder / name for name in KUSTOMIZATIONS if (folder / name).is_file()), None)
    if kustomization is None:
        return {path for path in folder.rglob("*") if path.is_file()}
    spec = yaml.safe_load(kustomization.read_text()) or {}
    references = [*spec.get("resources", []), *spec.get("components", []), *spec.get("bases", []),
                  *spec.get("patchesStrategicMerge", []), *(p.get("path") for p in spec.get("patches", []) if isinstance(p, dict)),
                  *(f.split("=", 1)[-1] for g in [*spec.get("configMapGenerator", []), *spec.get("secretGenerator", [])]
                    for f in g.get("files", []))]
    files = {kustomization}
    for reference in references:
        if not isinstance(reference, str) or "://" in reference or reference.startswith(("github.com/", "git@")):
            continue
        target = (folder / reference).resolve()
        files |= _kustomization_files(target, seen) if target.is_dir() else {target} if target.is_file() else set()
    return files


def local_sources(resource_type: str, inputs: dict[str, Any]) -> dict[str, str] | None:
    """The files of the local folder a resource applies (relative to the checkout) by content digest; None for others."""
    key = LOCAL_SOURCES.get(resource_type)
    folder = Path(inputs[key]).resolve() if key and isinstance(inputs.get(key), str) else None
    if folder is None or not folder.is_dir():
        return None  # a chart by name from a repository, or no local folder
    files = _kustomization_files(folder, set()) if key == "directory" else {p for p in folder.rglob("*") if p.is_file()}
    return {(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)): hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            for path in sorted(files)}


def snapshot(run: offline.OfflineRun) -> dict[str, Any]:
    """URN -> type, name, masked inputs, protection and the digests of the local files it applies, for every
    resource; plus masked outputs and the values the provider computes (mock values here)."""
    resources = {}
    for r in run.resources:
        resources[r.urn] = {"type": r.type, "name": r.name, "inputs": mask(r.inputs, r.secret_paths), "protect": r.protect}
        sources = local_sources(r.type, r.inputs)
        if sources is not None:
            resources[r.urn]["sources"] = sources
    # The values only the provider knows (ids, ARNs, endpoints): the mocks' inventions, shown as "(computed)" by the diff.
    computed = sorted(set().union(*(r.computed() for r in run.resources)))
    return {"stack": run.stack, "resources": resources, "outputs": run.public_outputs(), "computed": computed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, choices=offline.available_stacks())
    parser.add_argument("--override", action="append", default=[], help="config override key=value (JSON values allowed)")
    args = parser.parse_args(argv)
    try:
        run = offline.run(args.stack, offline.parse_overrides(args.override))
    except ConfigError as error:
        print(f"error: stack {args.stack}: {error}", file=sys.stderr)
        return 2
    json.dump(snapshot(run), sys.stdout, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
