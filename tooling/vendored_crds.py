"""The External Secrets Operator's CRDs the platform's objects use, vendored from the chart's own commit.

ESO's chart source has no CRDs (its packaging copies ``deploy/crds/bundle.yaml`` into templates/crds), and CI
renders from ``../shared/upstream`` only, which holds the chart source. So the render (tooling/render.py) reads
the CRDs of exactly the kinds the program declares from :data:`VENDORED` when no upstream root holds the bundle.
The real install still gets every CRD from the packaged chart (``installCRDs``).

    python -m tooling.vendored_crds <path to bundle.yaml at the pinned commit>   # rewrite VENDORED

tests/conformance/test_vendored_crds.py checks VENDORED against the bundle wherever the bundle is available.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

from infra import paths, versions
from tooling import crd

VENDORED = paths.ROOT / "tooling" / "crds" / f"external-secrets-{versions.EXTERNAL_SECRETS.version}.yaml"
# The commit the chart 2.9.0 is released from (the tag helm-chart-2.9.0 resolves to it; ../shared/upstream/README.md).
COMMIT = "cc5bfbc2234ace9cb0caff4ea89c435cf517b27b"
# The kinds the program declares (components/external_secrets.py, infra/credentials.py), by CRD name.
NAMES = (
    "externalsecrets.external-secrets.io",
    "clustersecretstores.external-secrets.io",
    "pushsecrets.external-secrets.io",
    "passwords.generators.external-secrets.io",
)
_SHA = re.compile(r"^# bundle sha256: ([0-9a-f]{64})$", re.M)


def _split(text: str) -> list[str]:
    """The bundle's documents, verbatim."""
    return [doc.strip("\n") for doc in re.split(r"^---\s*$", text, flags=re.M) if doc.strip()]


def selected(bundle_text: str) -> list[str]:
    """The documents of :data:`NAMES`, verbatim and in NAMES' order; a name the bundle lacks is an error."""
    by_name = {}
    for doc in _split(bundle_text):
        for obj in crd.documents(doc):  # a comment-only document (a header) has none
            by_name[obj["metadata"]["name"]] = doc
    missing = [name for name in NAMES if name not in by_name]
    if missing:
        raise ValueError(f"the bundle has no CRD {missing}: is it ESO {versions.EXTERNAL_SECRETS.version}'s deploy/crds/bundle.yaml?")
    return [by_name[name] for name in NAMES]


def header(bundle_text: str) -> str:
    """Where the vendored CRDs come from."""
    source = versions.EXTERNAL_SECRETS_CRDS
    return "\n".join([
        f"# Vendored by `python -m tooling.vendored_crds`: {len(NAMES)} CRDs of the External Secrets Operator, verbatim.",
        f"# repository: https://github.com/{source.repository}",
        f"# commit: {COMMIT} (tag {source.tag})",
        f"# path: {source.path}/bundle.yaml",
        f"# bundle sha256: {hashlib.sha256(bundle_text.encode()).hexdigest()}",
    ])


def vendored_text(bundle_text: str) -> str:
    """The file :data:`VENDORED` as the bundle makes it."""
    return header(bundle_text) + "\n---\n" + "\n---\n".join(selected(bundle_text)) + "\n"


def bundle_sha(text: str) -> str:
    """The bundle's sha256 the vendored file's header names."""
    found = _SHA.search(text)
    if not found:
        raise ValueError(f"{VENDORED}: no '# bundle sha256:' header; regenerate it with `python -m tooling.vendored_crds <bundle>`")
    return found.group(1)


def load() -> list[dict]:
    """The vendored CRDs, parsed."""
    return crd.documents(VENDORED.read_text())


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tooling.vendored_crds <deploy/crds/bundle.yaml at the pinned commit>", file=sys.stderr)
        return 2
    VENDORED.parent.mkdir(parents=True, exist_ok=True)
    VENDORED.write_text(vendored_text(Path(argv[0]).read_text()))
    print(f"wrote {VENDORED.relative_to(paths.ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
