"""Which connections the platform needs, per stack: the input of the NetworkFlows component.

A :class:`Flow` is one permitted connection; the component (components/network_flows.py) turns
each into NetworkPolicies. Components read their ports and pod labels from here, never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra import alert_routing
from infra import namespaces as ns
from infra.config import PRIVATE_RANGES, Settings
from infra.object_store import MINIO_CONSOLE_PORT, MINIO_PODS, MINIO_PORT, ObjectStore


@dataclass(frozen=True)
class Flow:
    """Pods in ``source`` may open TCP connections to ``target`` on ``ports``.

    ``source``/``target`` are namespaces; ``cidr`` replaces the target (egress to
    outside) or, with ``source`` empty, the source (ingress from outside).
    """

    name: str
    source: str
    target: str
    ports: tuple[int, ...]
    source_pods: dict[str, str] = field(default_factory=dict)
    target_pods: dict[str, str] = field(default_factory=dict)
    cidr: str = ""
    cidr_except: tuple[str, ...] = ()
    # False when the platform does not own the source namespace (an ingress gateway):
    # then only the target's ingress policy is declared.
    source_managed: bool = True
    # False when the target's policy is not the platform's (the models namespace: the serving
    # chart declares its pods' policy): then only the source's egress policy is declared.
    target_managed: bool = True

    def peer(self, namespace: str, pods: dict[str, str]) -> dict:
        if not namespace:
            block: dict = {"cidr": self.cidr}
            if self.cidr_except:
                block["except"] = list(self.cidr_except)
            return {"ipBlock": block}
        peer: dict = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
        if pods:
            peer["podSelector"] = {"matchLabels": dict(pods)}
        return peer

    @property
    def port_list(self) -> list[dict]:
        return [{"protocol": "TCP", "port": port} for port in self.ports]


MLFLOW_PORT = 5000
POSTGRES_PORT = 5432
MODEL_METRICS_PORT = 8082
# kube-prometheus-stack's operator (release kube-prometheus-stack) and the port its webhooks listen on.
PROMETHEUS_OPERATOR_PODS = {"app": "kube-prometheus-stack-operator"}
PROMETHEUS_OPERATOR_WEBHOOK_PORT = 10250
# CoreDNS (kube-system, the EKS add-on or kind's) and the port it serves metrics on.
COREDNS_PODS = {"k8s-app": "kube-dns"}
COREDNS_METRICS_PORT = 9153
KFP_API_PORT = 8888
MYSQL_PORT = 3306
# KFP 2.17.0's cache server: its pods and the port its webhook listens on (containerPort webhook-api).
KFP_CACHE_SERVER_PODS = {"app": "cache-server"}
KFP_CACHE_WEBHOOK_PORT = 8443
MYSQL_PODS = {"app": "mysql"}
# The KFP 2.17.0 servers that use MySQL (each reads mysql-secret), by their pods' labels.
KFP_MYSQL_CLIENTS = {"ml-pipeline": {"app": "ml-pipeline"}, "cache-server": KFP_CACHE_SERVER_PODS,
                     "metadata-grpc": {"component": "metadata-grpc-server"}}
MLFLOW_PODS = {"app.kubernetes.io/name": "mlflow"}
# The Job that creates MLflow's pipeline user and its grants (components/mlflow_users.py).
MLFLOW_USERS_PODS = {"app.kubernetes.io/name": "mlflow-users"}
POSTGRES_PODS = {"app.kubernetes.io/name": "postgres"}
PUSHGATEWAY_PORT = 9091
PUSHGATEWAY_PODS = {"app.kubernetes.io/name": "pushgateway"}
# Argo's workflow controller (KFP's): its pods' label and metrics port (upstream's Deployment at v4.0.5).
WORKFLOW_CONTROLLER_PODS = {"app": "workflow-controller"}
WORKFLOW_CONTROLLER_METRICS_PORT = 9090
# NVIDIA's DCGM exporter (chart 4.8.2's service.port), on GPU stacks with monitoring.
DCGM_EXPORTER_PORT = 9400
# Argo CD's server (8080), repo server (8081), Redis (6379), and the metrics of controller, server and repo server.
ARGOCD_PORTS = (8080, 8081, 6379, 8082, 8083, 8084, 7000)
ARGOCD_REPO_SERVER_PODS = {"app.kubernetes.io/name": "argocd-repo-server"}
# The External Secrets Operator 2.9.0 (release external-secrets): its controller's pods and metrics port, and the
# port its webhook listens on (webhook.port), which the API server calls for SecretStores and ExternalSecrets.
EXTERNAL_SECRETS_PODS = {"app.kubernetes.io/name": "external-secrets"}
EXTERNAL_SECRETS_METRICS_PORT = 8080
EXTERNAL_SECRETS_WEBHOOK_PODS = {"app.kubernetes.io/name": "external-secrets-webhook"}
EXTERNAL_SECRETS_WEBHOOK_PORT = 10250
# The backup CronJobs' pods (infra/backups.py), one label per store.
KFP_MYSQL_BACKUP_PODS = {"app.kubernetes.io/name": "kfp-mysql-backup"}
POSTGRES_BACKUP_PODS = {"app.kubernetes.io/name": "postgres-backup"}
MINIO_BACKUP_PODS = {"app.kubernetes.io/name": "minio-backup"}
# The UIs people open, by their pods and the port their container serves (what a NetworkPolicy matches):
# KFP 2.17.0's ml-pipeline-ui, kube-prometheus-stack's Grafana and Argo CD's server (plain HTTP with sso).
KFP_UI_PODS, KFP_UI_PORT = {"app": "ml-pipeline-ui"}, 3000
GRAFANA_PODS, GRAFANA_PORT = {"app.kubernetes.io/name": "grafana"}, 3000
ARGOCD_SERVER_PODS, ARGOCD_SERVER_PORT = {"app.kubernetes.io/name": "argocd-server"}, 8080


def _to_object_store(name: str, source: str, store: ObjectStore, source_pods: dict[str, str] | None = None) -> Flow:
    pods = dict(source_pods or {})
    if store.is_minio:
        return Flow(f"{name}-to-minio", source, ns.MINIO.name, (MINIO_PORT,), pods, target_pods=MINIO_PODS)
    if store.endpoint_cidr:
        # S3 (and STS, for IRSA) through the VPC's interface endpoints: their addresses are in the VPC.
        return Flow(f"{name}-to-s3", source, "", (443,), pods, cidr=store.endpoint_cidr)
    # S3's public addresses have no fixed range: HTTPS outside the private ranges.
    return Flow(f"{name}-to-s3", source, "", (443,), pods, cidr="0.0.0.0/0", cidr_except=PRIVATE_RANGES)


def _to_aws_api(name: str, source: str, store: ObjectStore, pods: dict[str, str] | None = None) -> Flow:
    """HTTPS to an AWS API: the VPC's interface endpoints where the program made them, else outside the private ranges."""
    if store.endpoint_cidr:
        return Flow(name, source, "", (443,), dict(pods or {}), cidr=store.endpoint_cidr)
    return Flow(name, source, "", (443,), dict(pods or {}), cidr="0.0.0.0/0", cidr_except=PRIVATE_RANGES)


def chart_object_store(store: ObjectStore) -> dict:
    """The serving chart's networkPolicy.objectStore value: the same peer the platform's flows allow."""
    flow = _to_object_store("models", ns.MODELS.name, store)
    return {
        "cidrs": [flow.cidr] if flow.cidr else [],
        "except": list(flow.cidr_except),
        "namespace": flow.target,
        "podLabels": dict(flow.target_pods),
        "port": flow.ports[0],
    }


def control_plane_cidrs(settings: Settings, vpc_cidr: str) -> tuple[str, ...]:
    """Where the API server talks to pods from and is reached at: on EKS its cross-account ENIs and the
    private endpoint, in the VPC; on a local cluster (kind, minikube, k3d) a private range. Never the internet."""
    return (vpc_cidr,) if settings.is_aws else PRIVATE_RANGES


def apiserver_cidrs(settings: Settings, vpc_cidr: str) -> tuple[str, ...]:
    """Where pods reach the API server at: the control plane's addresses and, on EKS, the ``kubernetes``
    Service's ClusterIP. The VPC CNI matches egress at the pod's interface, before the Service address is
    translated, and adds a Service's address to a policy only when the Service's selector matches the
    policy's peer; ``kubernetes`` has no selector (aws/amazon-network-policy-controller-k8s
    pkg/resolvers/endpoints.go), so without its address as an ipBlock every client of the API times out."""
    if not settings.is_aws:
        return control_plane_cidrs(settings, vpc_cidr)
    return (*control_plane_cidrs(settings, vpc_cidr), f"{settings.cluster.kubernetes_service_address}/32")


def _control_plane(name: str, source: str, target: str, ports: tuple[int, ...], cidrs: tuple[str, ...],
                   target_pods: dict[str, str] | None = None) -> list[Flow]:
    """One flow per control-plane CIDR (a NetworkPolicy peer holds one ipBlock)."""
    return [Flow(name if len(cidrs) == 1 else f"{name}-{index}", source, target, ports, target_pods=dict(target_pods or {}), cidr=cidr)
            for index, cidr in enumerate(cidrs)]


def kfp_database_flows(settings: Settings, vpc_cidr: str, store: ObjectStore) -> list[Flow]:
    """KFP's MySQL: only its own servers, never a pipeline step (user code runs in kubeflow too). In the cluster: to
    MySQL's pods, and its dump (infra/backups.py) to them and the bucket; on RDS: to the VPC on MySQL's port (the
    instance's security group admits the cluster security group only), and no dump (RDS backs itself up)."""
    if settings.kfp_database.kind == "rds":
        return [Flow(f"{client}-to-rds", ns.KUBEFLOW.name, "", (MYSQL_PORT,), labels, cidr=vpc_cidr)
                for client, labels in KFP_MYSQL_CLIENTS.items()]
    return [
        *[Flow(f"{client}-to-mysql", ns.KUBEFLOW.name, ns.KUBEFLOW.name, (MYSQL_PORT,), labels, MYSQL_PODS)
          for client, labels in KFP_MYSQL_CLIENTS.items()],
        Flow("kfp-mysql-backup-to-mysql", ns.KUBEFLOW.name, ns.KUBEFLOW.name, (MYSQL_PORT,), KFP_MYSQL_BACKUP_PODS, MYSQL_PODS),
        _to_object_store("kfp-mysql-backup", ns.KUBEFLOW.name, store, KFP_MYSQL_BACKUP_PODS),
    ]


def platform_flows(settings: Settings, vpc_cidr: str, store: ObjectStore) -> list[Flow]:
    """Every allow the platform needs; anything else is denied."""
    control_plane, apiserver = control_plane_cidrs(settings, vpc_cidr), apiserver_cidrs(settings, vpc_cidr)
    flows = [
        # Pipelines: KFP's own components talk to each other; steps log to MLflow and the store.
        Flow("kubeflow-internal", ns.KUBEFLOW.name, ns.KUBEFLOW.name, (KFP_API_PORT, 8887, 8080, 9090, 8443)),
        Flow("pipelines-to-mlflow", ns.KUBEFLOW.name, ns.MLFLOW.name, (MLFLOW_PORT,), target_pods=MLFLOW_PODS),
        _to_object_store("pipelines", ns.KUBEFLOW.name, store),
        # MLflow: its database and its artifact store.
        _to_object_store("mlflow", ns.MLFLOW.name, store),
        # Serving: the models namespace's policy is the serving chart's (its networkPolicy values,
        # chart_object_store below): ingress from the gateway, the load balancer and monitoring, egress
        # to the store. The platform declares only the other ends.
        # Controllers reach the API server; the API server calls their webhooks.
        *[
            flow
            for name in (ns.KUBEFLOW.name, ns.KSERVE.name, ns.CERT_MANAGER.name)
            for flow in _control_plane(f"{name}-to-apiserver", name, "", (443, 6443), apiserver)
        ],
        *_control_plane("apiserver-to-kserve-webhook", "", ns.KSERVE.name, (9443,), control_plane),
        *_control_plane("apiserver-to-cert-manager-webhook", "", ns.CERT_MANAGER.name, (10250,), control_plane),
        # KFP's cache webhook (cache-server, certificate from cert-manager) mutates the steps' pods.
        *_control_plane("apiserver-to-kfp-cache-webhook", "", ns.KUBEFLOW.name, (KFP_CACHE_WEBHOOK_PORT,), control_plane,
                        target_pods=KFP_CACHE_SERVER_PODS),
        # No ACME flow: the platform's issuers are self-signed (KServe's webhook certificates) and the
        # serving ingress uses an ACM certificate. A stack that adds an ACME issuer adds that flow.
    ]
    flows += kfp_database_flows(settings, vpc_cidr, store)
    if ns.NVIDIA in ns.for_stack(settings):
        # The device plugin (its service account is bound to a role: it reads nodes and its config) calls the API.
        flows += _control_plane("nvidia-device-plugin-to-apiserver", ns.NVIDIA.name, "", (443, 6443), apiserver)
    if ns.EXTERNAL_SECRETS in ns.for_stack(settings):
        flows += [
            # The operator (controller, webhook, cert-controller) watches and writes Secrets through the API server.
            *_control_plane("external-secrets-to-apiserver", ns.EXTERNAL_SECRETS.name, "", (443, 6443), apiserver),
            *_control_plane("apiserver-to-external-secrets-webhook", "", ns.EXTERNAL_SECRETS.name, (EXTERNAL_SECRETS_WEBHOOK_PORT,),
                            control_plane, target_pods=EXTERNAL_SECRETS_WEBHOOK_PODS),
            # The controller reads (and fills) the secrets in Secrets Manager, and gets its IRSA credentials from STS.
            _to_aws_api("external-secrets-to-secrets-manager", ns.EXTERNAL_SECRETS.name, store, EXTERNAL_SECRETS_PODS),
        ]
        if settings.monitoring:
            flows.append(Flow("monitoring-to-external-secrets", ns.MONITORING.name, ns.EXTERNAL_SECRETS.name,
                              (EXTERNAL_SECRETS_METRICS_PORT,), target_pods=EXTERNAL_SECRETS_PODS))
    if settings.database.kind == "in-cluster":
        flows += [
            Flow("mlflow-to-postgres", ns.MLFLOW.name, ns.POSTGRES.name, (POSTGRES_PORT,), MLFLOW_PODS, POSTGRES_PODS),
            # Its dump: the database, and the bucket.
            Flow("postgres-backup-to-postgres", ns.POSTGRES.name, ns.POSTGRES.name, (POSTGRES_PORT,), POSTGRES_BACKUP_PODS, POSTGRES_PODS),
            _to_object_store("postgres-backup", ns.POSTGRES.name, store, POSTGRES_BACKUP_PODS),
        ]
    else:
        flows.append(Flow("mlflow-to-rds", ns.MLFLOW.name, "", (POSTGRES_PORT,), MLFLOW_PODS, cidr=vpc_cidr))
    if settings.mlflow_basic_auth:
        # The users Job calls MLflow's auth API as the admin.
        flows.append(Flow("mlflow-users-to-mlflow", ns.MLFLOW.name, ns.MLFLOW.name, (MLFLOW_PORT,), MLFLOW_USERS_PODS, MLFLOW_PODS))
    if store.is_minio:
        flows += [
            Flow("minio-internal", ns.MINIO.name, ns.MINIO.name, (MINIO_PORT, MINIO_CONSOLE_PORT), MINIO_PODS, MINIO_PODS),
            # The mirror of its buckets (infra/backups.py) reads and, in a restore, writes them.
            Flow("minio-backup-to-minio", ns.MINIO.name, ns.MINIO.name, (MINIO_PORT,), MINIO_BACKUP_PODS, MINIO_PODS),
        ]
    if settings.gitops.mode == "argocd":
        flows += [
            Flow("argocd-internal", ns.ARGOCD.name, ns.ARGOCD.name, ARGOCD_PORTS),
            # The application controller and the server apply and watch through the API server.
            *_control_plane("argocd-to-apiserver", ns.ARGOCD.name, "", (443, 6443), apiserver),
            # The repo server clones the GitOps repository (HTTPS; a git host outside the VPC).
            Flow("argocd-to-git", ns.ARGOCD.name, "", (443,), ARGOCD_REPO_SERVER_PODS, cidr="0.0.0.0/0", cidr_except=PRIVATE_RANGES),
        ]
    if settings.monitoring:
        flows += [
            Flow("monitoring-to-models", ns.MONITORING.name, ns.MODELS.name, (MODEL_METRICS_PORT, 9091), target_managed=False),
            Flow("monitoring-to-mlflow", ns.MONITORING.name, ns.MLFLOW.name, (MLFLOW_PORT,), target_pods=MLFLOW_PODS),
            Flow("monitoring-to-kubeflow", ns.MONITORING.name, ns.KUBEFLOW.name, (KFP_API_PORT,)),
            # The pipelines dashboard's Argo metrics (infra/components/dashboards.py's PodMonitor).
            Flow("monitoring-to-workflow-controller", ns.MONITORING.name, ns.KUBEFLOW.name, (WORKFLOW_CONTROLLER_METRICS_PORT,),
                 target_pods=WORKFLOW_CONTROLLER_PODS),
            Flow("monitoring-internal", ns.MONITORING.name, ns.MONITORING.name,
                 (9090, 9093, 9100, 8080, 3000, 10250, PUSHGATEWAY_PORT, DCGM_EXPORTER_PORT)),
            # The drift pipeline's steps push the drift score.
            Flow("pipelines-to-pushgateway", ns.KUBEFLOW.name, ns.MONITORING.name, (PUSHGATEWAY_PORT,), target_pods=PUSHGATEWAY_PODS),
            *_control_plane("monitoring-to-apiserver", ns.MONITORING.name, "", (443, 6443, 10250), apiserver),
            # The Prometheus operator's admission webhooks (PrometheusRule, AlertmanagerConfig), which the API server calls.
            *_control_plane("apiserver-to-prometheus-operator-webhook", "", ns.MONITORING.name, (PROMETHEUS_OPERATOR_WEBHOOK_PORT,),
                            control_plane, target_pods=PROMETHEUS_OPERATOR_PODS),
            # CoreDNS's metrics, which kube-prometheus-stack scrapes (its coreDns ServiceMonitor, port 9153).
            Flow("monitoring-to-coredns", ns.MONITORING.name, "kube-system", (COREDNS_METRICS_PORT,),
                 target_pods=COREDNS_PODS, target_managed=False),
        ]
        if ports := alert_routing.receiver_ports(settings.observability):
            # Alertmanager's notifications: Slack and PagerDuty over HTTPS, webhooks and SMTP relays on their own
            # ports, wherever they are (a relay may be in the VPC); no other pod of monitoring goes out.
            flows.append(Flow("alertmanager-to-receivers", ns.MONITORING.name, "", ports, alert_routing.ALERTMANAGER_PODS,
                              cidr="0.0.0.0/0"))
    if settings.sso.enabled:
        from infra import sso  # noqa: PLC0415 - sso reads this module's ports and pods

        flows += sso.flows(settings)
    from infra import feature_store  # noqa: PLC0415 - feature_store reads this module's ports and pods

    flows += feature_store.flows(settings, store)
    return flows


def load_balancer_cidrs(settings: Settings, scheme: str = "") -> tuple[str, ...]:
    """Where an ALB of ``scheme`` (default: the models', servingIngress) lives (its ENIs send the traffic): the private
    subnets for an internal one, the public subnets for an internet-facing one; the whole VPC when its subnets are not ours."""
    scheme = scheme or settings.serving.ingress
    if scheme == "none":
        return ()
    if settings.network.existing_vpc_id:
        return (settings.network.vpc_cidr,)
    return settings.network.public_subnet_cidrs if scheme == "internet-facing" else settings.network.private_subnet_cidrs
