"""Which connections the platform needs, per stack: the input of the NetworkFlows component."""

from __future__ import annotations

from infra import namespaces as ns
from infra.components.network_flows import PRIVATE_RANGES, Flow
from infra.config import Settings

MLFLOW_PORT = 5000
POSTGRES_PORT = 5432
MINIO_PORT = 9000
MODEL_HTTP_PORT = 8080
MODEL_METRICS_PORT = 8082
KFP_API_PORT = 8888
MLFLOW_PODS = {"app.kubernetes.io/name": "mlflow"}
POSTGRES_PODS = {"app.kubernetes.io/name": "postgres"}
MINIO_PODS = {"app": "minio"}
PUSHGATEWAY_PORT = 9091
PUSHGATEWAY_PODS = {"app.kubernetes.io/name": "pushgateway"}
# Argo CD's server (8080), repo server (8081), Redis (6379), and the metrics of controller, server and repo server.
ARGOCD_PORTS = (8080, 8081, 6379, 8082, 8083, 8084, 7000)
ARGOCD_REPO_SERVER_PODS = {"app.kubernetes.io/name": "argocd-repo-server"}


def _to_object_store(name: str, source: str, settings: Settings) -> Flow:
    if settings.object_store == "minio":
        return Flow(f"{name}-to-minio", source, ns.MINIO.name, (MINIO_PORT,), target_pods=MINIO_PODS)
    # S3 has no fixed address range: HTTPS outside the private ranges.
    return Flow(f"{name}-to-s3", source, "", (443,), cidr="0.0.0.0/0", cidr_except=PRIVATE_RANGES)


def chart_object_store(settings: Settings) -> dict:
    """The serving chart's networkPolicy.objectStore value: the same peer the platform's flows allow."""
    flow = _to_object_store("models", ns.MODELS.name, settings)
    return {
        "cidrs": [flow.cidr] if flow.cidr else [],
        "except": list(flow.cidr_except),
        "namespace": flow.target,
        "podLabels": dict(flow.target_pods),
        "port": flow.ports[0],
    }


def platform_flows(settings: Settings, vpc_cidr: str) -> list[Flow]:
    """Every allow the platform needs; anything else is denied."""
    flows = [
        # Pipelines: KFP's own components talk to each other; steps log to MLflow and the store.
        Flow("kubeflow-internal", ns.KUBEFLOW.name, ns.KUBEFLOW.name, (KFP_API_PORT, 8887, 8080, 3306, 5432, 9090, 8443)),
        Flow("pipelines-to-mlflow", ns.KUBEFLOW.name, ns.MLFLOW.name, (MLFLOW_PORT,), target_pods=MLFLOW_PODS),
        _to_object_store("pipelines", ns.KUBEFLOW.name, settings),
        # MLflow: its database and its artifact store.
        _to_object_store("mlflow", ns.MLFLOW.name, settings),
        # Serving: the storage initializer downloads the model; the gateway calls it.
        _to_object_store("models", ns.MODELS.name, settings),
        Flow("gateway-to-models", settings.gateway_namespace, ns.MODELS.name, (MODEL_HTTP_PORT, 8012), source_managed=False),
        # Controllers reach the API server; the API server calls their webhooks.
        *[
            Flow(f"{name}-to-apiserver", name, "", (443, 6443), cidr="0.0.0.0/0")
            for name in (ns.KUBEFLOW.name, ns.KSERVE.name, ns.CERT_MANAGER.name)
        ],
        Flow("apiserver-to-kserve-webhook", "", ns.KSERVE.name, (9443,), cidr="0.0.0.0/0"),
        Flow("apiserver-to-cert-manager-webhook", "", ns.CERT_MANAGER.name, (10250,), cidr="0.0.0.0/0"),
        Flow("cert-manager-acme", ns.CERT_MANAGER.name, "", (443,), cidr="0.0.0.0/0", cidr_except=PRIVATE_RANGES),
    ]
    if settings.database == "in-cluster":
        flows.append(
            Flow("mlflow-to-postgres", ns.MLFLOW.name, ns.POSTGRES.name, (POSTGRES_PORT,), MLFLOW_PODS, POSTGRES_PODS)
        )
    else:
        flows.append(Flow("mlflow-to-rds", ns.MLFLOW.name, "", (POSTGRES_PORT,), MLFLOW_PODS, cidr=vpc_cidr))
    if settings.object_store == "minio":
        flows.append(Flow("minio-internal", ns.MINIO.name, ns.MINIO.name, (MINIO_PORT, 9001), MINIO_PODS, MINIO_PODS))
    if settings.gitops == "argocd":
        flows += [
            Flow("argocd-internal", ns.ARGOCD.name, ns.ARGOCD.name, ARGOCD_PORTS),
            # The application controller and the server apply and watch through the API server.
            Flow("argocd-to-apiserver", ns.ARGOCD.name, "", (443, 6443), cidr="0.0.0.0/0"),
            # The repo server clones the GitOps repository (HTTPS; a git host outside the VPC).
            Flow("argocd-to-git", ns.ARGOCD.name, "", (443,), ARGOCD_REPO_SERVER_PODS, cidr="0.0.0.0/0", cidr_except=PRIVATE_RANGES),
        ]
    if settings.monitoring:
        flows += [
            Flow("monitoring-to-models", ns.MONITORING.name, ns.MODELS.name, (MODEL_METRICS_PORT, 9091)),
            Flow("monitoring-to-mlflow", ns.MONITORING.name, ns.MLFLOW.name, (MLFLOW_PORT,), target_pods=MLFLOW_PODS),
            Flow("monitoring-to-kubeflow", ns.MONITORING.name, ns.KUBEFLOW.name, (KFP_API_PORT,)),
            Flow("monitoring-internal", ns.MONITORING.name, ns.MONITORING.name, (9090, 9093, 9100, 8080, 3000, 10250, PUSHGATEWAY_PORT)),
            # The drift pipeline's steps push the drift score.
            Flow("pipelines-to-pushgateway", ns.KUBEFLOW.name, ns.MONITORING.name, (PUSHGATEWAY_PORT,), target_pods=PUSHGATEWAY_PODS),
            Flow("monitoring-to-apiserver", ns.MONITORING.name, "", (443, 6443, 10250), cidr="0.0.0.0/0"),
        ]
    return flows
