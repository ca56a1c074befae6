"""The backups as a stack applies them: the dump runs the image KFP's MySQL runs, and every backup pod reaches its
store, the bucket and DNS under the stack's NetworkPolicies, where other pods of its namespace do not reach the store."""

from __future__ import annotations

import ipaddress

from infra import backups, flows, versions
from infra.object_store import MINIO_PODS, MINIO_PORT
from tooling import offline
from tooling.netpol import Pod, allowed
from tooling.render import Rendered, namespace_of


def _named(objects: list[Rendered], kind: str, name: str) -> dict:
    (found,) = [item.obj for item in objects if item.obj["kind"] == kind and item.obj["metadata"]["name"] == name]
    return found


def test_kfp_mysql_dump_runs_the_server_image(stack: str, stack_objects: dict[str, list[Rendered]]) -> None:
    """KFP's MySQL, as the overlay renders it, runs infra/versions.py's mysql image: the one its backup's mysqldump runs."""
    mysql = _named(stack_objects[stack], "Deployment", "mysql")
    assert mysql["spec"]["template"]["spec"]["containers"][0]["image"] == versions.IMAGES["mysql"]
    dump = _named(stack_objects[stack], "CronJob", backups.KFP_MYSQL.job)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"][0]
    assert dump["image"] == versions.IMAGES["mysql"]


def test_backup_pods_reach_their_store_and_the_bucket(stack: str, stack_objects: dict[str, list[Rendered]],
                                                      stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Each backup pod reaches DNS, its database (or MinIO) and the object store; a pipeline step does not reach MySQL,
    nor another pod of the postgres namespace Postgres."""
    objects = stack_objects[stack]
    policies = [{**item.obj, "metadata": {**item.obj["metadata"], "namespace": namespace_of(item.obj)}}
                for item in objects if item.obj["kind"] == "NetworkPolicy"]
    jobs = {item.obj["metadata"]["name"] for item in objects if item.obj["kind"] == "CronJob"}
    minio = any(item.obj["kind"] == "Namespace" and item.obj["metadata"]["name"] == "minio" for item in objects)
    network = stack_runs[stack].settings.network
    # S3 through the VPC's interface endpoint (an address in the VPC), or S3's public addresses (an existing VPC).
    s3 = "52.216.0.1" if network.existing_vpc_id else str(list(ipaddress.ip_network(network.vpc_cidr).hosts())[9])
    store = Pod("minio", dict(MINIO_PODS)) if minio else Pod("", ip=s3)
    store_port = MINIO_PORT if minio else 443
    targets = {backups.KFP_MYSQL.name: (Pod("kubeflow", dict(flows.MYSQL_PODS)), flows.MYSQL_PORT),
               backups.POSTGRES.name: (Pod("postgres", dict(flows.POSTGRES_PODS)), flows.POSTGRES_PORT),
               backups.MINIO.name: (Pod("minio", dict(MINIO_PODS)), MINIO_PORT)}
    dns = Pod("kube-system", {"k8s-app": "kube-dns"})
    checked = 0
    for store_backup in backups.STORES:
        database, port = targets[store_backup.name]
        if store_backup.job not in jobs:
            continue
        pod = Pod(store_backup.namespace, dict(store_backup.pods))
        assert allowed(policies, pod, dns, 53), store_backup.job
        assert allowed(policies, pod, database, port), f"{store_backup.job} cannot reach its store"
        if store_backup in backups.DUMPED:
            assert allowed(policies, pod, store, store_port), f"{store_backup.job} cannot reach the object store"
        checked += 1
    assert checked >= 1
    assert not allowed(policies, Pod("kubeflow", {"pipelines.kubeflow.org/v2_component": "true"}), targets[backups.KFP_MYSQL.name][0], flows.MYSQL_PORT)
    if backups.POSTGRES.job in jobs:
        assert not allowed(policies, Pod("postgres", {"app": "other"}), targets[backups.POSTGRES.name][0], flows.POSTGRES_PORT)
