"""Who may reach a served model, evaluated over every NetworkPolicy a stack applies (the program's and the chart's).

A small evaluator of NetworkPolicy semantics (policies are additive; a pod selected by a policy
of a direction admits only what some rule of that direction allows) over the rendered objects.
"""

from __future__ import annotations

import ipaddress
import json
import re

import pytest
import yaml

from tooling import external_secret, offline
from tooling.netpol import Pod, allowed, selects
from tooling.render import ROOT, Rendered, namespace_of


@pytest.mark.parametrize("stack", [s for s in offline.STACKS if s in ("staging", "prod")])
def test_only_the_test_pod_and_the_load_balancer_reach_the_model(stack: str, stack_objects: dict[str, list[Rendered]],
                                                                  stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The chart's `helm test` pod reaches the model and DNS under the default deny; the ALB's subnets reach the
    model; another pod of the namespace and an address outside the ALB's subnets do not."""
    objects = [item.obj for item in stack_objects[stack]]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    (serving,) = [item for item in stack_objects[stack] if item.obj["kind"] == "InferenceService"]
    isvc = serving.obj
    # The serving release's own `helm test` pod (other releases, Grafana's, have theirs).
    (test_pod,) = [item.obj for item in stack_objects[stack] if item.source == serving.source and item.obj["kind"] == "Pod"
                   and item.obj["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    namespace = isvc["metadata"]["namespace"]
    model = Pod(namespace, dict(isvc["spec"]["predictor"]["labels"]))
    tester = Pod(test_pod["metadata"]["namespace"], dict(test_pod["metadata"]["labels"]))
    dns = Pod("kube-system", {"k8s-app": "kube-dns"})
    assert allowed(policies, tester, dns, 53), "the helm test pod cannot resolve the model's name"
    assert allowed(policies, tester, model, 8080), "the helm test pod cannot reach the model"
    assert not allowed(policies, Pod(namespace, {"app": "other"}), model, 8080), "any pod of the namespace reaches the model"

    settings = stack_runs[stack].settings
    inside = str(next(ipaddress.ip_network(settings.network.private_subnet_cidrs[0]).hosts()))
    outside = str(next(ipaddress.ip_network(settings.network.public_subnet_cidrs[0]).hosts()))
    assert allowed(policies, Pod("", ip=inside), model, 8080), "the internal ALB's subnets cannot reach the model"
    assert not allowed(policies, Pod("", ip=outside), model, 8080), "an address outside the ALB's subnets reaches the model"
    assert not allowed(policies, Pod("", ip=inside), model, 8082), "the ALB reaches the metrics port"
    # With request logging, KServe v0.20.0 points the predictor Service's targetPort at its agent (9081,
    # InferenceServiceDefaultAgentPort in pkg/constants; service_reconciler.go): callers, the ALB's targets and its
    # health checks all arrive there, and the agent hands the request to the model on localhost.
    if isvc["spec"]["predictor"].get("logger"):
        release = next(r for r in stack_runs[stack].of_type("kubernetes:helm.sh/v3:Release") if r.urn == serving.source)
        agent = {**yaml.safe_load((CHART / "values.yaml").read_text())["ports"], **release.inputs["values"].get("ports", {})}["agent"]
        assert agent == KSERVE_AGENT_PORT
        assert allowed(policies, tester, model, agent), "the helm test pod cannot reach the logger agent the Service points at"
        assert allowed(policies, Pod("", ip=inside), model, agent), "the ALB's targets (the agent) fail their health checks"
        assert not allowed(policies, Pod(namespace, {"app": "other"}), model, agent), "any pod of the namespace reaches the agent"


def test_kfp_mysql_has_a_password_and_only_kfp_servers_reach_it(stack: str, stack_objects: dict[str, list[Rendered]],
                                                                 stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Upstream's root with an empty password is gone: MySQL takes the stack's credential (or KFP signs in as RDS's
    master user), every pod that reads mysql-secret is one of the clients the flows admit (KFP's servers and, in the
    cluster, the backup), and no other policy opens 3306 (on RDS: egress to the VPC from those clients only)."""
    from infra import flows
    from infra.components import rds_mysql

    objects = [item.obj for item in stack_objects[stack]]
    in_kubeflow = [o for o in objects if namespace_of(o) == "kubeflow"]
    settings = stack_runs[stack].settings
    rds = settings.kfp_database.kind == "rds"
    secret = external_secret.secret_data(in_kubeflow, "mysql-secret")
    assert secret["password"] and secret["username"] == (rds_mysql.USERNAME if rds else "root")
    mysql = [o for o in objects if o.get("kind") == "Deployment" and o["metadata"]["name"] == "mysql"]
    assert len(mysql) == (0 if rds else 1), stack
    if not rds:
        env = {e["name"]: e for e in mysql[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert "MYSQL_ALLOW_EMPTY_PASSWORD" not in env
        assert env["MYSQL_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "mysql-secret", "key": "password"}
    clients = [*flows.KFP_MYSQL_CLIENTS.values(), *([] if rds else [flows.KFP_MYSQL_BACKUP_PODS])]
    readers = [o for o in objects if o.get("kind") in ("Deployment", "StatefulSet", "CronJob") and "mysql-secret" in str(o["spec"])
               and o["metadata"]["name"] != "mysql"]
    assert ("CronJob" in {o["kind"] for o in readers}) is not rds, "KFP's servers and, in the cluster, its backup read mysql-secret"
    for reader in readers:
        template = reader["spec"]["jobTemplate"]["spec"]["template"] if reader["kind"] == "CronJob" else reader["spec"]["template"]
        labels = template["metadata"]["labels"]
        assert any(selector.items() <= labels.items() for selector in clients), reader["metadata"]["name"]
    kubeflow = [o for o in objects if o.get("kind") == "NetworkPolicy" and o["metadata"].get("namespace") == "kubeflow"]
    ingress = [o for o in kubeflow if any(p.get("port") == flows.MYSQL_PORT for rule in o["spec"].get("ingress", []) for p in rule.get("ports", []))]
    egress = [o for o in kubeflow if any(p.get("port") == flows.MYSQL_PORT for rule in o["spec"].get("egress", []) for p in rule.get("ports", []))]
    if rds:
        # No MySQL in the cluster to admit; out to the VPC on 3306 only from the three clients.
        assert not ingress and egress
        assert sorted(str(o["spec"]["podSelector"]["matchLabels"]) for o in egress) == sorted(map(str, clients))
        peers = [peer for o in egress for rule in o["spec"]["egress"] for peer in rule["to"]]
        assert peers and all(peer == {"ipBlock": {"cidr": settings.network.vpc_cidr}} for peer in peers)
        return
    assert ingress and all(o["spec"]["podSelector"] == {"matchLabels": flows.MYSQL_PODS} for o in ingress)
    sources = [peer["podSelector"]["matchLabels"] for o in ingress for rule in o["spec"]["ingress"] for peer in rule["from"]]
    assert sorted(map(str, sources)) == sorted(map(str, clients))


def test_kfp_mysql_takes_tls_only_and_its_clients_use_it(stack: str, stack_objects: dict[str, list[Rendered]],
                                                          stack_runs: dict[str, offline.OfflineRun]) -> None:
    """MySQL refuses plain connections and serves the program's certificate (RDS: its parameter group requires TLS,
    tests/infra/test_kfp_database.py); each of its clients (the pods the flows admit to 3306) uses TLS: the Go servers
    verify it against the CA (tls=true, the CA or RDS's bundle in SSL_CERT_DIR), MLMD from its config file (encrypted
    only); a new certificate or CA restarts them (the digest on each pod template)."""
    import posixpath

    from infra import flows
    from infra.components import kubeflow_pipelines as kfp
    from infra.components.service_tls import TLS_CERT_ANNOTATION

    objects = [item.obj for item in stack_objects[stack]]
    in_kubeflow = [o for o in objects if namespace_of(o) == "kubeflow"]
    named = {(o["kind"], o["metadata"]["name"]): o for o in in_kubeflow}

    def container(deployment: str, name: str) -> dict:
        (found,) = [c for c in named["Deployment", deployment]["spec"]["template"]["spec"]["containers"] if c["name"] == name]
        return found

    def mounted(deployment: str, name: str, source: dict) -> str:
        """Where the container mounts the volume whose source is ``source`` (a secret or configMap stanza)."""
        pod = named["Deployment", deployment]["spec"]["template"]["spec"]
        volumes = [v["name"] for v in pod["volumes"] if source.items() <= v.items()]
        (path,) = [m["mountPath"] for m in container(deployment, name)["volumeMounts"] if m["name"] in volumes]
        return path

    rds = stack_runs[stack].settings.kfp_database.kind == "rds"
    # The server: the program's key pair, plain connections refused (on RDS: no server, no key pair in the cluster).
    assert (("Deployment", "mysql") in named) is (("Secret", kfp.MYSQL_TLS_SECRET) in named) is not rds, stack
    if not rds:
        mysql = container("mysql", "mysql")
        args = dict(a.removeprefix("--").split("=", 1) for a in mysql["args"] if a.startswith("--") and "=" in a)
        assert args["require-secure-transport"] == "ON" and args["tls-version"] == "TLSv1.2,TLSv1.3"
        tls_dir = mounted("mysql", "mysql", {"secret": {"secretName": kfp.MYSQL_TLS_SECRET, "defaultMode": 0o640}})
        assert (args["ssl-cert"], args["ssl-key"]) == (posixpath.join(tls_dir, "tls.crt"), posixpath.join(tls_dir, "tls.key"))
        pod = named["Deployment", "mysql"]["spec"]["template"]["spec"]
        assert pod["securityContext"]["fsGroup"] == mysql["securityContext"]["runAsUser"] == 999  # 0640 root:999 is readable
        assert set(named["Secret", kfp.MYSQL_TLS_SECRET]["stringData"]) == {"tls.crt", "tls.key"}

    # The clients: exactly the pods the flows admit to 3306.
    clients = {name for (kind, name), o in named.items() if kind == "Deployment" and any(
        selector.items() <= o["spec"]["template"]["metadata"]["labels"].items() for selector in flows.KFP_MYSQL_CLIENTS.values())}
    assert clients == set(kfp.MYSQL_CLIENTS)
    ca_dir, ca_file = posixpath.split(kfp.MYSQL_CA_FILE)
    assert ca_file in named["ConfigMap", kfp.MYSQL_CA_CONFIG_MAP]["data"]
    for deployment, name in kfp.MYSQL_CLIENTS.items():
        assert mounted(deployment, name, {"configMap": {"name": kfp.MYSQL_CA_CONFIG_MAP}}) == ca_dir, deployment
    for deployment in (*(() if rds else ("mysql",)), *kfp.MYSQL_CLIENTS):
        assert TLS_CERT_ANNOTATION in named["Deployment", deployment]["spec"]["template"]["metadata"].get("annotations", {}), deployment
    # The Go servers: go-sql-driver's tls=true verifies the server's name against the system roots; Go adds
    # every certificate in SSL_CERT_DIR's folders to the system's bundle.
    api = {e["name"]: e.get("value") for e in container("ml-pipeline", kfp.MYSQL_CLIENTS["ml-pipeline"])["env"]}
    cache = container("cache-server", kfp.MYSQL_CLIENTS["cache-server"])
    (extra,) = [a.removeprefix("--db_extra_params=") for a in cache["args"] if a.startswith("--db_extra_params=")]
    assert json.loads(api["DBCONFIG_MYSQLCONFIG_EXTRAPARAMS"]) == json.loads(extra) == {"tls": "true"}
    for env in (api, {e["name"]: e.get("value") for e in cache["env"]}):
        assert ca_dir in env["SSL_CERT_DIR"].split(":") and "/etc/ssl/certs" in env["SSL_CERT_DIR"].split(":")
    # MLMD: its connection from the config file only, which names upstream's host, port and database.
    mlmd = container("metadata-grpc-deployment", kfp.MYSQL_CLIENTS["metadata-grpc-deployment"])
    assert "--metadata_source_config_type=config_file" in mlmd["args"] and not any(a.startswith("--mysql_config") for a in mlmd["args"])
    config_dir = mounted("metadata-grpc-deployment", "container", {"secret": {"secretName": kfp.MLMD_CONFIG_SECRET}})
    assert f"--metadata_store_server_config_file={posixpath.join(config_dir, kfp.MLMD_CONFIG_FILE)}" in mlmd["args"]
    install = named["ConfigMap", "pipeline-install-config"]["data"]
    config = external_secret.secret_data(in_kubeflow, kfp.MLMD_CONFIG_SECRET)[kfp.MLMD_CONFIG_FILE]
    fields = dict(re.findall(r"(\w+): (\S+)", config))
    # The host: upstream's Service, or (on RDS) the instance's address every client reads.
    host = named["ConfigMap", kfp.DATABASE_CONFIG]["data"]["host"] if rds else install["mysqlHost"]
    assert (json.loads(fields["host"]), fields["port"], json.loads(fields["database"])) == (host, install["mysqlPort"], install["mlmdDb"])
    # The same password as the Go servers', a backslash in it escaped (a text-format string).
    assert json.loads(fields["password"]) == external_secret.secret_data(in_kubeflow, "mysql-secret")["password"]
    # TLS on (the CA file), the name unchecked: MLMD 1.14.0's client refuses every certificate when asked to
    # check it (kfp.mlmd_server_config; scripts/check_kfp_mysql_tls.py runs both).
    assert json.loads(fields["ca"]) == kfp.MYSQL_CA_FILE and fields["verify_server_cert"] == "false"
    assert fields["enable_upgrade_migration"] == "true"  # upstream's --enable_database_upgrade=true


CHART = ROOT / "charts" / "model-serving"
# KServe v0.20.0's agent port (pkg/constants/constants.go InferenceServiceDefaultAgentPort): not in its charts.
KSERVE_AGENT_PORT = 9081
# Namespaces whose workloads (controllers, operators, sidecars, jobs) call the API server.
API_CLIENT_NAMESPACES = ("cert-manager", "kserve", "kubeflow", "monitoring", "argocd")


@pytest.mark.parametrize("stack", [s for s in offline.STACKS if s != "local"])
def test_api_clients_reach_the_kubernetes_service_address(stack: str, stack_objects: dict[str, list[Rendered]],
                                                          stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Under the VPC CNI, egress is matched before the `kubernetes` Service's address is translated and that Service has
    no selector: every pod of a namespace that calls the API admits its ClusterIP (the service CIDR's first address)."""
    objects = [item.obj for item in stack_objects[stack]]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    address = stack_runs[stack].settings.cluster.kubernetes_service_address
    assert address == str(next(ipaddress.ip_network(stack_runs[stack].settings.cluster.service_cidr).hosts()))
    clients = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet") and namespace_of(o) in API_CLIENT_NAMESPACES]
    assert {namespace_of(o) for o in clients} >= {"cert-manager", "kserve", "kubeflow"}
    for client in clients:
        pod = Pod(namespace_of(client), dict(client["spec"]["template"]["metadata"].get("labels") or {}))
        assert allowed(policies, pod, Pod("", ip=address), 443), f"{client['kind']} {pod.namespace}/{client['metadata']['name']} cannot reach the API server"


@pytest.mark.parametrize("stack", [s for s in offline.STACKS if s in ("staging", "prod")])
def test_prometheus_reaches_every_scrape_target_it_declares_in_kube_system(stack: str, stack_objects: dict[str, list[Rendered]]) -> None:
    """Every Service a ServiceMonitor selects in kube-system (CoreDNS's metrics on 9153) is admitted by monitoring's
    egress: a target Prometheus cannot reach is a TargetDown alert that fires forever."""
    objects = [item.obj for item in stack_objects[stack]]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor" and "kube-system" in (o["spec"].get("namespaceSelector") or {}).get("matchNames", [])]
    services = [o for o in objects if o["kind"] == "Service" and namespace_of(o) == "kube-system" and o["spec"].get("selector")
                and any(selects(m["spec"]["selector"], o["metadata"].get("labels") or {}) for m in monitors)]
    assert services, "no ServiceMonitor selects a Service in kube-system"
    prometheus = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
    for service in services:
        target = Pod("kube-system", dict(service["spec"]["selector"]))
        for port in service["spec"]["ports"]:
            assert allowed(policies, prometheus, target, port["targetPort"]), f"Prometheus cannot scrape {service['metadata']['name']}:{port['targetPort']}"
