"""Every third-party chart, manifest set and image the cluster layer installs, pinned in one place.

Charts by version, manifests by git ref, images by tag. Bumping one is a
reviewed one-line change here, and it shows up in the preview diff.

Each chart and manifest set also names where its source lives upstream (git
repository, release tag, path): the conformance tests render exactly that
source (``../shared/upstream`` or ``.upstream/``, fetched by ``make upstream``),
and a test fails when a pin here and the upstream copy disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """Where a chart or manifest set comes from upstream: a git repository at a release tag."""

    # The folder under the upstream root (../shared/upstream or .upstream) holding this release.
    folder: str
    repository: str  # owner/name on GitHub
    tag: str
    # Path of the chart or manifests inside the repository (kept at the same path under ``folder``).
    path: str


@dataclass(frozen=True)
class Chart:
    """A Helm chart at a fixed version (repo URL, or an oci:// chart reference with no repo)."""

    chart: str
    version: str
    repo: str = ""
    source: Source | None = None

    @property
    def name(self) -> str:
        return self.chart.rsplit("/", 1)[-1]

    @property
    def upstream_dir(self) -> str:
        """The chart's folder relative to the upstream root."""
        assert self.source is not None, f"{self.chart} names no upstream source"
        return f"{self.source.folder}/{self.source.path}"


_KSERVE = "kserve-v0.20.0"
CERT_MANAGER = Chart(
    "oci://quay.io/jetstack/charts/cert-manager", "v1.21.1",
    source=Source("cert-manager-v1.21.1", "cert-manager/cert-manager", "v1.21.1", "deploy/charts/cert-manager"),
)
KSERVE_CRD = Chart(
    "oci://ghcr.io/kserve/charts/kserve-crd", "v0.20.0",
    source=Source(_KSERVE, "kserve/kserve", "v0.20.0", "charts/kserve-crd"),
)
KSERVE_RESOURCES = Chart(
    "oci://ghcr.io/kserve/charts/kserve-resources", "v0.20.0",
    source=Source(_KSERVE, "kserve/kserve", "v0.20.0", "charts/kserve-resources"),
)
# Serving runtimes (ClusterServingRuntime kserve-mlserver, ...) ship only in this chart.
KSERVE_RUNTIME_CONFIGS = Chart(
    "oci://ghcr.io/kserve/charts/kserve-runtime-configs", "v0.20.0",
    source=Source(_KSERVE, "kserve/kserve", "v0.20.0", "charts/kserve-runtime-configs"),
)
NVIDIA_DEVICE_PLUGIN = Chart(
    "nvidia-device-plugin", "0.20.0", "https://nvidia.github.io/k8s-device-plugin",
    source=Source("nvidia-device-plugin-v0.20.0", "NVIDIA/k8s-device-plugin", "v0.20.0", "deployments/helm/nvidia-device-plugin"),
)
# GPU nodes' metrics (stacks with GPU groups and monitoring): chart 4.8.2, image 4.5.3-4.8.2 (the chart's default tag).
DCGM_EXPORTER = Chart(
    "dcgm-exporter", "4.8.2", "https://nvidia.github.io/dcgm-exporter/helm-charts",
    source=Source("dcgm-exporter-4.5.3-4.8.2", "NVIDIA/dcgm-exporter", "4.5.3-4.8.2", "deployment"),
)
KUBE_PROMETHEUS_STACK = Chart(
    "kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts",
    source=Source(
        "kube-prometheus-stack-88.5.3", "prometheus-community/helm-charts", "kube-prometheus-stack-88.5.3",
        "charts/kube-prometheus-stack",
    ),
)
# appVersion 1.35.0: the Cluster Autoscaler's minor must match the cluster's (config validation checks it).
CLUSTER_AUTOSCALER = Chart(
    "cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler",
    source=Source(
        "cluster-autoscaler-chart-9.59.0", "kubernetes/autoscaler", "cluster-autoscaler-chart-9.59.0",
        "cluster-autoscaler/charts/cluster-autoscaler",
    ),
)
CLUSTER_AUTOSCALER_KUBERNETES_MINOR = "1.35"
# MinIO's upstream repository is no longer maintained: this is its last chart,
# pinned with a pinned server image, for the local stack only; S3 is the production path.
MINIO = Chart(
    "minio", "5.4.0", "https://charts.min.io/",
    source=Source("minio-chart-5.4.0", "minio/minio", "RELEASE.2025-09-07T16-13-09Z", "helm/minio"),
)

# Models' load balancers (ALB for KServe's Ingresses). eks-charts publishes from main: the
# source is the commit that holds chart 3.5.0 (appVersion v3.5.0).
AWS_LOAD_BALANCER_CONTROLLER = Chart(
    "aws-load-balancer-controller", "3.5.0", "https://aws.github.io/eks-charts",
    source=Source(
        "aws-load-balancer-controller-chart-3.5.0", "aws/eks-charts", "5239609242f3430be50fb0b714a24d3ef2b47983",
        "stable/aws-load-balancer-controller",
    ),
)
# Its IAM policy, as the controller's release publishes it (docs/install/iam_policy.json at v3.5.0).
AWS_LOAD_BALANCER_CONTROLLER_IAM_POLICY = "infra/iam/aws-load-balancer-controller-v3.5.0.json"

# The GitOps option (gitops: argocd): Argo CD v3.4.4 syncs the serving chart from git.
ARGO_CD = Chart(
    "argo-cd", "9.7.1", "https://argoproj.github.io/argo-helm",
    source=Source("argo-cd-chart-9.7.1", "argoproj/argo-helm", "argo-cd-9.7.1", "charts/argo-cd"),
)

# AWS stacks: the External Secrets Operator syncs the platform's credentials from AWS Secrets Manager
# (infra/credentials.py). Its chart is released from the commit tagged helm-chart-2.9.0 (appVersion v2.9.0).
_EXTERNAL_SECRETS = "external-secrets-chart-2.9.0"
EXTERNAL_SECRETS = Chart(
    "external-secrets", "2.9.0", "https://charts.external-secrets.io",
    source=Source(_EXTERNAL_SECRETS, "external-secrets/external-secrets", "helm-chart-2.9.0", "deploy/charts/external-secrets"),
)
# Its CRDs: the packaged chart carries them in templates/crds (`installCRDs`), generated at packaging from this
# bundle of the same commit; the unpackaged chart source has none (tooling/render.py adds them as packaging does).
EXTERNAL_SECRETS_CRDS = Source(_EXTERNAL_SECRETS, "external-secrets/external-secrets", "helm-chart-2.9.0", "deploy/crds")

# The sign-in option (sso): one oauth2-proxy v7.15.3 in front of each UI.
OAUTH2_PROXY = Chart(
    "oauth2-proxy", "10.7.0", "https://oauth2-proxy.github.io/manifests",
    source=Source("oauth2-proxy-chart-10.7.0", "oauth2-proxy/manifests", "oauth2-proxy-10.7.0", "helm/oauth2-proxy"),
)

# The feature store's online feature server (`feast serve`): the same release as the Feast SDK the pipeline steps
# pin (requirements/features.txt), so the registry the steps write is the one the server reads.
FEAST_FEATURE_SERVER = Chart(
    "feast-feature-server", "0.66.0", "https://feast-helm-charts.storage.googleapis.com",
    source=Source("feast-v0.66.0", "feast-dev/feast", "v0.66.0", "infra/charts/feast-feature-server"),
)

CHARTS = (CERT_MANAGER, KSERVE_CRD, KSERVE_RESOURCES, KSERVE_RUNTIME_CONFIGS, NVIDIA_DEVICE_PLUGIN, DCGM_EXPORTER,
          KUBE_PROMETHEUS_STACK, CLUSTER_AUTOSCALER, AWS_LOAD_BALANCER_CONTROLLER, MINIO, ARGO_CD, EXTERNAL_SECRETS, OAUTH2_PROXY,
          FEAST_FEATURE_SERVER)

KFP_VERSION = "2.17.0"
KFP_MANIFESTS = "https://github.com/kubeflow/pipelines/manifests/kustomize"
KFP_SOURCE = Source("kubeflow-pipelines-2.17.0", "kubeflow/pipelines", KFP_VERSION, "manifests/kustomize")
# The Argo Workflows manifests KFP 2.17.0's kustomize pulls in by remote URL (not ours to choose).
ARGO_WORKFLOWS_SOURCE = Source("argo-workflows-v4.0.5", "argoproj/argo-workflows", "v4.0.5", "manifests")
MANIFESTS = (KFP_SOURCE, ARGO_WORKFLOWS_SOURCE, EXTERNAL_SECRETS_CRDS)

IMAGES = {
    "minio": "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z",
    "minio-client": "quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z",
    "postgres": "docker.io/library/postgres:17.9-bookworm",
    # KFP's MySQL (upstream names the 8.4 line only; infra/manifests/kubeflow-pipelines/base pins this patch
    # release, a test checks the two agree) and its backup's mysqldump: one image, client and server alike.
    "mysql": "docker.io/library/mysql:8.4.10",
    # Copies the stores' dumps to the bucket (infra/backups.py): IRSA and SSE-KMS on S3, MinIO's endpoint locally.
    "aws-cli": "docker.io/amazon/aws-cli:2.27.9",
    # MLflow's published server image, full variant (psycopg2 and boto3 included).
    "mlflow": "ghcr.io/mlflow/mlflow:v3.17.2-full",
    # Runs the stdlib-only pipeline upload script.
    "python": "docker.io/library/python:3.11.15-slim-bookworm",
    # Batch jobs' metrics (the drift score); not part of kube-prometheus-stack.
    "pushgateway": "quay.io/prometheus/pushgateway:v1.11.4",
    # The feature server's image, the chart's own default at 0.66.0 (its image.repository and image.tag).
    "feast-feature-server": "quay.io/feastdev/feature-server:0.66.0",
}
