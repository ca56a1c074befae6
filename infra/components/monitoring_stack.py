"""kube-prometheus-stack (pinned), so the serving chart's PodMonitor and PrometheusRule have somewhere to go."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import alert_routing, sso, versions
from infra.config import ObservabilitySettings
from infra.credentials import GRAFANA_ADMIN, Credentials
from infra.placement import ANYWHERE, PLATFORM, Placement

# The serving chart labels its monitors release=<this>; Prometheus selects that label.
RELEASE_NAME = "kube-prometheus-stack"
# On EKS the control plane is managed: etcd, the scheduler and the controller manager cannot be
# scraped, and the kube-proxy add-on serves metrics on 127.0.0.1 only. Left on, each is a target
# that is always down and an alert (KubeSchedulerDown, etcdInsufficientMembers, ...) that always fires.
MANAGED_CONTROL_PLANE_TARGETS = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
# The label by which Grafana's dashboard sidecar picks up ConfigMaps (grafana.sidecar.dashboards.label/labelValue,
# set below so that this is the one spelling; infra/components/dashboards.py labels its ConfigMaps with it).
DASHBOARD_LABEL = ("grafana_dashboard", "1")
# Grafana's admin login: the Secret the chart reads (admin.existingSecret) where the stack keeps it in Secrets Manager.
GRAFANA_ADMIN_SECRET, GRAFANA_ADMIN_USER = "grafana-admin", "admin"
GRAFANA_ADMIN_KEYS = {"userKey": "admin-user", "passwordKey": "admin-password"}
MANAGED_CONTROL_PLANE_RULES = ("etcd", "kubeControllerManager", "kubeProxy", "kubeSchedulerAlerting", "kubeSchedulerRecording")


# Alertmanager keeps silences and its notification log (kilobytes): the smallest gp3 volume is plenty.
ALERTMANAGER_STORAGE = "1Gi"
# Prometheus stops at this share of its volume whatever the retention days (the TSDB's WAL and compaction need the rest).
RETENTION_SIZE_SHARE = 0.85


def _volume(size: str, storage_class: str | None) -> dict[str, Any]:
    """A claim template on the platform's StorageClass (``None``: the cluster's default, on the local stack)."""
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


def _bounds(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, dict[str, str]]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def placement_values(placement: Placement) -> dict[str, Any]:
    """Where each of the release's pods runs (infra/placement.py); Alertmanager, which pages during an incident, HA.

    Every key is the chart's at the pinned version (kube-prometheus-stack 88.5.3 and its grafana and
    kube-state-metrics subcharts); node-exporter is a DaemonSet and runs on every node.
    """
    pod = {"nodeSelector": placement.node_selector, "priorityClassName": PLATFORM.name}
    alertmanager = {**pod, "replicas": placement.replicas,
                    "topologySpreadConstraints": placement.spread({"app.kubernetes.io/name": "alertmanager"})}
    return {
        # Two Prometheus replicas in prod, each scraping everything into its own volume, spread over zones: a lost zone
        # keeps one replica and its history (the fault simulation's "state at risk").
        "prometheus": {"prometheusSpec": {**pod, "replicas": placement.replicas,
                                          "topologySpreadConstraints": placement.spread({"app.kubernetes.io/name": "prometheus"})}},
        # The chart's PDB keeps its minAvailable: 1 unless removed: with one replica that blocks every drain.
        "alertmanager": {"alertmanagerSpec": alertmanager,
                         "podDisruptionBudget": {"enabled": placement.replicas > 1, "minAvailable": None, "maxUnavailable": 1}},
        "grafana": dict(pod),
        "kube-state-metrics": dict(pod),
        "prometheusOperator": {**pod, "admissionWebhooks": {"patch": dict(pod)}},
    }


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def grafana_ini(sso_host: str) -> dict[str, Any]:
    """Grafana's settings behind the sign-in proxy (sso): its public address, and people as the proxy names them
    (auth.proxy; a first visit creates the user with Grafana's default role, Viewer). The admin login stays."""
    return {
        "server": {"root_url": f"https://{sso_host}/"},
        "auth.proxy": {"enabled": True, "header_name": sso.EMAIL_HEADER, "header_property": "email", "auto_sign_up": True},
    }


def chart_values(managed_control_plane: bool, observability: ObservabilitySettings, storage_class: str | None,
                 sso_host: str = "", placement: Placement = ANYWHERE, admin_secret: str = "") -> dict[str, Any]:
    """kube-prometheus-stack values: monitors and rules from every namespace by the release label, persistent
    Prometheus and Alertmanager, Alertmanager routing to the stack's receivers, Grafana behind the sign-in proxy
    at ``sso_host`` (empty: reached by port-forward), every pod placed by ``placement``, Grafana's admin from
    ``admin_secret`` (empty: the chart generates one)."""
    values: dict[str, Any] = {
        "prometheus": {
            "prometheusSpec": {
                # Pick up monitors and rules from every namespace, by the release label.
                "podMonitorSelector": {"matchLabels": {"release": RELEASE_NAME}},
                "ruleSelector": {"matchLabels": {"release": RELEASE_NAME}},
                "podMonitorNamespaceSelector": {},
                "ruleNamespaceSelector": {},
                "retention": f"{observability.retention_days}d",
                "retentionSize": f"{int(observability.storage_gi * RETENTION_SIZE_SHARE)}GB",
                "storageSpec": _volume(f"{observability.storage_gi}Gi", storage_class),
                "resources": _bounds("200m", "1Gi", "2", "4Gi"),
            }
        },
        "alertmanager": {
            "config": alert_routing.alertmanager_config(observability),
            "alertmanagerSpec": {
                "resources": _bounds("10m", "64Mi", "200m", "256Mi"),
                "storage": _volume(ALERTMANAGER_STORAGE, storage_class),
                # Mounted at alert_routing.CREDENTIALS_DIR: the receivers' *_file fields read it.
                "secrets": [alert_routing.CREDENTIALS_SECRET],
            },
        },
        # Grafana (subchart grafana 12.11.1): the server, its dashboard and datasource sidecars, and its
        # own `helm test` pod, each bounded through the keys that chart reads (upstream sets none).
        "grafana": {
            "enabled": True,
            "defaultDashboardsEnabled": True,
            "resources": _bounds("50m", "128Mi", "500m", "512Mi"),
            "sidecar": {
                "resources": _bounds("10m", "64Mi", "200m", "256Mi"),
                "dashboards": {"label": DASHBOARD_LABEL[0], "labelValue": DASHBOARD_LABEL[1]},
            },
            "testFramework": {"resources": _bounds("10m", "32Mi", "100m", "128Mi")},
            **({"admin": {"existingSecret": admin_secret, **GRAFANA_ADMIN_KEYS}} if admin_secret else {}),
        },
        "kube-state-metrics": {"resources": _bounds("10m", "64Mi", "200m", "256Mi")},
        "prometheus-node-exporter": {"resources": _bounds("10m", "32Mi", "200m", "128Mi")},
        # The operator, the config reloader it adds to Prometheus and Alertmanager, and its admission
        # webhook's certificate jobs, bounded (upstream sets no resources).
        "prometheusOperator": {
            "resources": _bounds("100m", "128Mi", "500m", "512Mi"),
            "prometheusConfigReloader": {"resources": _bounds("10m", "32Mi", "100m", "64Mi")},
            "admissionWebhooks": {"patch": {"resources": _bounds("10m", "32Mi", "100m", "128Mi")}},
        },
    }
    if sso_host:
        values["grafana"]["grafana.ini"] = grafana_ini(sso_host)
    if managed_control_plane:
        values |= {target: {"enabled": False} for target in MANAGED_CONTROL_PLANE_TARGETS}
        values["defaultRules"] = {"rules": {rule: False for rule in MANAGED_CONTROL_PLANE_RULES}}
    return _deep_merge(values, placement_values(placement))


class MonitoringStack(pulumi.ComponentResource):
    """Prometheus, Alertmanager and Grafana, selecting monitors and rules labelled release=kube-prometheus-stack."""

    def __init__(self, name: str, namespace: str, managed_control_plane: bool, observability: ObservabilitySettings,
                 storage_class: str | None, sso_host: str = "", credentials: Credentials | None = None,
                 opts: pulumi.ResourceOptions | None = None, placement: Placement = ANYWHERE) -> None:
        """``credentials``: where Grafana's admin password comes from (AWS: Secrets Manager); None: the chart generates it."""
        super().__init__("mlplatform:k8s:MonitoringStack", name, None, opts)
        admin = []
        if credentials is not None:
            password = credentials.value(GRAFANA_ADMIN, f"{name}-grafana-admin", pulumi.ResourceOptions(parent=self))
            admin.append(credentials.secret(
                f"{name}-grafana-admin", GRAFANA_ADMIN_SECRET, namespace,
                {GRAFANA_ADMIN_KEYS["userKey"]: GRAFANA_ADMIN_USER, GRAFANA_ADMIN_KEYS["passwordKey"]: password},
                pulumi.ResourceOptions(parent=self),
            ))
        # The receivers' credentials (Pulumi secrets, so secret in the state too); Alertmanager mounts the Secret
        # before it starts, so it exists even with no credential yet.
        receivers = k8s.core.v1.Secret(
            f"{name}-alert-receivers",
            metadata={"name": alert_routing.CREDENTIALS_SECRET, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "mlplatform"}},
            string_data={receiver: pulumi.Output.secret(value.get_secret_value()) for receiver, value in observability.credentials.items()},
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s.helm.v3.Release(
            name,
            name=RELEASE_NAME,
            chart=versions.KUBE_PROMETHEUS_STACK.chart,
            version=versions.KUBE_PROMETHEUS_STACK.version,
            repository_opts={"repo": versions.KUBE_PROMETHEUS_STACK.repo},
            namespace=namespace,
            values=chart_values(managed_control_plane, observability, storage_class, sso_host, placement,
                                GRAFANA_ADMIN_SECRET if admin else ""),
            # Alertmanager mounts the receivers' Secret and Grafana's pods read the admin Secret from their first start.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[receivers, *admin]),
        )
        self.register_outputs({})
