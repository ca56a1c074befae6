"""Every third-party chart, manifest set and image the cluster layer installs, pinned in one place.

Charts by version, manifests by git ref, images by tag. Bumping one is a
reviewed one-line change here, and it shows up in the preview diff.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    """A Helm chart at a fixed version (repo URL, or an oci:// chart reference with no repo)."""

    chart: str
    version: str
    repo: str = ""


CERT_MANAGER = Chart("oci://quay.io/jetstack/charts/cert-manager", "v1.21.0")
KSERVE_CRD = Chart("oci://ghcr.io/kserve/charts/kserve-crd", "v0.20.0")
KSERVE_RESOURCES = Chart("oci://ghcr.io/kserve/charts/kserve-resources", "v0.20.0")
NVIDIA_DEVICE_PLUGIN = Chart("nvidia-device-plugin", "0.18.0", "https://nvidia.github.io/k8s-device-plugin")
KUBE_PROMETHEUS_STACK = Chart("kube-prometheus-stack", "79.5.0", "https://prometheus-community.github.io/helm-charts")
# MinIO's upstream repository is no longer maintained: this is its last chart,
# pinned with a pinned server image, for the local stack only; S3 is the production path.
MINIO = Chart("minio", "5.4.0", "https://charts.min.io/")

KFP_VERSION = "2.17.0"
KFP_MANIFESTS = "https://github.com/kubeflow/pipelines/manifests/kustomize"

IMAGES = {
    "minio": "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z",
    "minio-client": "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z",
    "postgres": "docker.io/library/postgres:17.6-bookworm",
    # MLflow's published server image, full variant (psycopg2 and boto3 included).
    "mlflow": "ghcr.io/mlflow/mlflow:v3.17.2-full",
    # Runs the stdlib-only pipeline upload script.
    "python": "docker.io/library/python:3.11.14-slim-bookworm",
}
