"""Which input changes replace a resource, read from the providers' own schemas.

A Pulumi provider schema marks each input property whose change makes the provider replace the
resource (``"willReplaceOnChanges": true``; the Terraform bridge sets it from ``ForceNew``). The
offline diff marks a change as a replacement from exactly that, never from a hand-kept list.

The schemas come from the Pulumi CLI at the versions in ``requirements/infra.lock``:

    make provider-schemas      # pulumi package get-schema aws@<version> | python -m tooling.replacements extract ...

which keeps only the replace-on-change paths of each resource type, in ``.provider-schemas/``
(ignored by git, a few hundred KB). Where a provider's schema is absent the diff says that it
cannot tell replacements for that provider, rather than guessing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.paths import ROOT

SCHEMA_DIR = ROOT / ".provider-schemas"
LOCK = ROOT / "requirements" / "infra.lock"
# Pulumi package name -> the Python SDK that pins its version in the lock file.
PROVIDERS = {"aws": "pulumi-aws", "kubernetes": "pulumi-kubernetes", "random": "pulumi-random", "tls": "pulumi-tls"}
_INDEX = re.compile(r"\[\d+\]")


def provider_versions(lock: Path = LOCK) -> dict[str, str]:
    """Each provider's version as the lock file pins its SDK (``pulumi-aws==7.51.1``)."""
    text = lock.read_text()
    versions = {}
    for provider, package in PROVIDERS.items():
        match = re.search(rf"^{re.escape(package)}==([\w.]+)", text, re.MULTILINE)
        if match:
            versions[provider] = match.group(1)
    return versions


def extract(schema: dict[str, Any]) -> dict[str, list[str]]:
    """Resource type -> the input paths (``a.b``, list items unindexed) whose change replaces it."""
    types = schema.get("types", {})

    def paths(properties: dict[str, Any], prefix: str, seen: frozenset[str]) -> list[str]:
        found = []
        for name, spec in sorted(properties.items()):
            path = f"{prefix}{name}"
            if spec.get("willReplaceOnChanges"):
                found.append(path)
            ref = spec.get("$ref") or spec.get("items", {}).get("$ref") or spec.get("additionalProperties", {}).get("$ref") or ""
            token = ref.removeprefix("#/types/")
            if ref.startswith("#/types/") and token not in seen and token in types:
                found += paths(types[token].get("properties", {}), f"{path}.", seen | {token})
        return found

    return {
        token: found
        for token, resource in sorted(schema.get("resources", {}).items())
        if (found := paths(resource.get("inputProperties", {}), "", frozenset()))
    }


@dataclass(frozen=True)
class Rules:
    """Replace-on-change paths by resource type, and the providers whose schema is missing."""

    paths: dict[str, frozenset[str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # provider -> version

    def forces_replacement(self, resource_type: str, key: str) -> bool | None:
        """Whether changing input ``key`` (``instanceTypes[0]``) replaces the resource; None when unknown."""
        provider = resource_type.split(":", 1)[0]
        if provider in self.missing:
            return None
        if provider not in PROVIDERS:
            return False  # a component: its children carry the changes
        flat = _INDEX.sub("", key)
        return any(flat == path or flat.startswith(f"{path}.") for path in self.paths.get(resource_type, ()))


def schema_file(provider: str, version: str, directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"{provider}-{version}.json"


def load(directory: Path = SCHEMA_DIR, versions: dict[str, str] | None = None) -> Rules:
    """The replace rules of every provider at its locked version; missing schemas are listed, not guessed."""
    paths: dict[str, frozenset[str]] = {}
    missing: dict[str, str] = {}
    for provider, version in (versions or provider_versions()).items():
        path = schema_file(provider, version, directory)
        if not path.exists():
            missing[provider] = version
            continue
        extracted = json.loads(path.read_text())
        paths |= {token: frozenset(found) for token, found in extracted["resources"].items()}
    return Rules(paths, missing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep the replace-on-change paths of a Pulumi provider schema (read on stdin).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("extract", help="read `pulumi package get-schema <provider>@<version>` on stdin")
    run.add_argument("--provider", required=True, choices=sorted(PROVIDERS))
    run.add_argument("--version", required=True)
    run.add_argument("--out-dir", type=Path, default=SCHEMA_DIR)
    args = parser.parse_args(argv)
    try:
        schema = json.load(sys.stdin)
    except json.JSONDecodeError as error:
        print(f"error: stdin is not a provider schema (JSON): {error}; pipe `pulumi package get-schema {args.provider}@{args.version}`",
              file=sys.stderr)
        return 2
    if schema.get("name") != args.provider or schema.get("version", args.version) != args.version:
        print(f"error: the schema is {schema.get('name')}@{schema.get('version')}, not {args.provider}@{args.version}", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = schema_file(args.provider, args.version, args.out_dir)
    resources = extract(schema)
    out.write_text(json.dumps({"provider": args.provider, "version": args.version, "resources": resources}, indent=1, sort_keys=True))
    print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {len(resources)} resource types with replace-on-change inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
