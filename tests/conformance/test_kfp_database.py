"""KFP's database as each stack applies it: prod's clients on RDS MySQL (no MySQL in the cluster), the others' on the
overlay's in-cluster MySQL; every client's host resolved through the ConfigMaps the stack really applies."""

from __future__ import annotations

from infra.components import kubeflow_pipelines as kfp
from tooling import offline
from tooling.render import Rendered, namespace_of

# The env vars by which KFP 2.17.0's clients name MySQL's host, and their init container that waits for it (WAIT_HOST,
# which the other servers' init containers use for the API server or MLMD).
HOST_VARS = {"DBCONFIG_HOST", "DBCONFIG_MYSQLCONFIG_HOST", "DBCONFIG_HOST_NAME", "MYSQL_HOST"}
WAIT_FOR_DATABASE = "wait-for-database"


def _client_hosts(objects: list[dict]) -> dict[tuple[str, str, str], str | None]:
    """(deployment, container, var) -> the value the pod would get, read through the stack's ConfigMaps (None: no such key)."""
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    hosts = {}
    for o in objects:
        if o["kind"] != "Deployment":
            continue
        pod = o["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            for env in container.get("env", []):
                if env["name"] not in HOST_VARS and (env["name"], container["name"]) != ("WAIT_HOST", WAIT_FOR_DATABASE):
                    continue
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                value = config_maps.get(ref["name"], {}).get(ref["key"]) if ref else env.get("value")
                hosts[o["metadata"]["name"], container["name"], env["name"]] = value
    return hosts


def test_every_kfp_client_reaches_the_stack_database(stack: str, stack_objects: dict[str, list[Rendered]],
                                                     stack_runs: dict[str, offline.OfflineRun]) -> None:
    """KFP's objects render; on RDS (prod) there is no MySQL Deployment, volume or Service and every client's host is the
    instance's address; in the cluster every client's host is upstream's mysql Service."""
    run = stack_runs[stack]
    objects = [item.obj for item in stack_objects[stack] if namespace_of(item.obj) == "kubeflow"]
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {("Deployment", d) for d in kfp.MYSQL_CLIENTS} <= names, stack
    hosts = _client_hosts(objects)
    # Each client names its host, the API server and MLMD twice (their init container waits for it).
    assert {deployment for deployment, _, _ in hosts} == set(kfp.MYSQL_CLIENTS), stack
    in_cluster = {("Deployment", "mysql"), ("PersistentVolumeClaim", "mysql-pv-claim"), ("Service", "mysql")}
    if run.settings.kfp_database.kind == "rds":
        (instance,) = [i for i in run.of_type("aws:rds/instance:Instance") if i.inputs["engine"] == "mysql"]
        assert not names & in_cluster, f"{stack}: in-cluster MySQL objects remain: {sorted(names & in_cluster)}"
        assert set(hosts.values()) == {instance.outputs["address"]}, hosts
        # No client is left on upstream's key: it is gone from pipeline-install-config.
        (install,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "pipeline-install-config"]
        assert "mysqlHost" not in install["data"]
    else:
        assert in_cluster <= names, stack
        assert set(hosts.values()) == {kfp.MYSQL_SERVICE}, hosts


def test_prod_zone_loss_puts_no_pipeline_state_at_risk(stack_runs: dict[str, offline.OfflineRun],
                                                       stack_objects: dict[str, list[Rendered]]) -> None:
    """Prod's zone fault: no KFP volume and no single-AZ RDS instance among the state at risk; dev's in-cluster MySQL is."""
    from tooling.simulate import faults

    def at_risk(stack: str) -> list[str]:
        run = stack_runs[stack]
        objects = [item.obj for item in stack_objects[stack]]
        return faults.simulate_fault(stack, run.settings, objects, run.resources, "zone").at_risk

    prod = at_risk("prod")
    assert not [item for item in prod if "kubeflow/" in item or item.startswith("RDS ")], prod
    assert "Deployment kubeflow/mysql (mysql-pv-claim)" in at_risk("dev")
