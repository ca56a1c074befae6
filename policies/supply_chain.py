"""Supply-chain rules: images pinned (by digest where required) from allowed registries; Helm charts and kustomize
sources pinned."""

from __future__ import annotations

import re

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from policies.helpers import SECURITY, Tunable, get, message, rule
from policies.k8s import CHART_V4, KUSTOMIZE, RELEASE, containers, pod_spec

# gcr.io: KFP 2.17.0's MLMD server (gcr.io/tfx-oss-public/ml_metadata_store_server) is published there only.
DEFAULT_REGISTRIES = ["docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "public.ecr.aws", "nvcr.io", "gcr.io"]
_PINNED_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][\w.]+)?$")


def _images(spec: dict) -> list[str]:
    return [c.get("image", "") for c in containers(spec)]


# Off by default: upstream charts pin by tag; a stack that mirrors its images by digest turns it on.
REQUIRE_DIGEST = Tunable("requireDigest", {"type": "boolean"}, False)


@rule("images-pinned", "Images are pinned by tag or digest, never latest (by digest when requireDigest is set).",
      SECURITY, Severity.MEDIUM, "Pin a version tag or a digest.", tunables=[REQUIRE_DIGEST])
def image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args)
    if spec is None:
        return
    by_digest = REQUIRE_DIGEST.read(args)
    for image in _images(spec):
        last = image.rsplit("/", 1)[-1]
        if "@sha256:" in image:
            continue
        if ":" not in last or last.endswith(":latest"):
            report(message(
                f"Image {image} is not pinned (no tag, or latest).",
                "the same manifest would run different code on every pull.",
                "pin a version tag, or better a digest (name@sha256:...).",
            ))
        elif by_digest:
            report(message(
                f"Image {image} is pinned by tag only, and this stack requires digests (requireDigest).",
                "a tag can be moved to other content; only a digest names exactly what was reviewed.",
                "pin the digest of the reviewed image (name@sha256:...).",
            ))


ALLOWED_REGISTRIES = Tunable("allowedRegistries", {"type": "array", "items": {"type": "string"}}, DEFAULT_REGISTRIES)


@rule("images-allowed-registries", "Images come from allowed registries.",
      SECURITY, Severity.HIGH, "Use an allowed registry or extend allowedRegistries.",
      tunables=[ALLOWED_REGISTRIES])
def image_registry(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args)
    if spec is None:
        return
    allowed = ALLOWED_REGISTRIES.read(args)
    for image in _images(spec):
        first = image.split("/", 1)[0]
        registry = first if ("." in first or ":" in first) and "/" in image else "docker.io"
        if registry not in allowed:
            report(message(
                f"Image {image} comes from {registry}, which is not an allowed registry.",
                "images from unknown registries bypass the team's supply-chain review.",
                f"use one of {allowed} or add the registry to the pack's allowedRegistries.",
            ))


@rule("releases-and-manifests-pinned", "Helm releases and kustomize sources are pinned.",
      SECURITY, Severity.MEDIUM, "Pin chart versions and ?ref= tags.")
def releases_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in (RELEASE, CHART_V4):
        version = str(get(args.props, "version", "") or "")
        if not _PINNED_VERSION.match(version):
            report(message(
                f"Helm release of {get(args.props, 'chart')} is not pinned to a version (got {version or 'none'}).",
                "the next upstream release would roll out unreviewed on any `pulumi up`.",
                "set version to an exact chart version.",
            ))
    if args.resource_type in KUSTOMIZE:
        directory = str(get(args.props, "directory", ""))
        if directory.startswith(("http://", "https://", "github.com")) and not re.search(r"[?&]ref=[\w.-]+", directory):
            report(message(
                f"Kustomize source {directory} has no pinned ref.",
                "the manifests would follow the upstream default branch.",
                "append ?ref=<release tag> to the URL.",
            ))
