"""KFP's database per stack (kfpDatabase): RDS MySQL on prod, the overlay's in-cluster MySQL elsewhere."""

from __future__ import annotations

import json

import pytest

from infra import credentials, flows, object_store, rds_ca, versions
from infra.components import kubeflow_pipelines as kfp
from infra.components.rds_mysql import ENGINE_VERSION, USERNAME
from infra.object_store import ObjectStore
from infra.placement import ANYWHERE
from tooling import offline
from tooling.mocks import Registration, rds_ca_bundle

INSTANCE = "aws:rds/instance:Instance"
DIRECTORY = "kubernetes:kustomize/v2:Directory"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"


def _kfp_instance(run: offline.OfflineRun) -> Registration | None:
    found = [i for i in run.of_type(INSTANCE) if i.inputs["engine"] == "mysql"]
    assert len(found) <= 1, run.stack
    return found[0] if found else None


def _named(run: offline.OfflineRun, kind: str, name: str) -> dict:
    (match,) = [r.inputs for r in run.of_type(kind) if r.inputs["metadata"]["name"] == name and r.inputs["metadata"]["namespace"] == "kubeflow"]
    return match


def _synced(run: offline.OfflineRun, name: str) -> dict:
    """The ExternalSecret that makes Secret ``kubeflow/name``: its template and where each credential is read from."""
    spec = _named(run, EXTERNAL_SECRET, name)["spec"]
    return {"template": spec["target"]["template"]["data"], "remote": {d["secretKey"]: d["remoteRef"] for d in spec["data"]}}


def test_prod_runs_kfp_on_a_multi_az_tls_only_rds_mysql(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Prod's KFP database: RDS MySQL 8.4, Multi-AZ, the platform's RDS key, TLS required, backups, protected, final snapshot."""
    run = stack_runs["prod"]
    instance = _kfp_instance(run)
    assert instance is not None, "prod declares no RDS MySQL for KFP"
    inputs = instance.inputs
    assert inputs["engineVersion"] == ENGINE_VERSION == "8.4"
    assert versions.IMAGES["mysql"].split(":")[1].startswith(ENGINE_VERSION + "."), "RDS and the in-cluster MySQL run one line"
    assert inputs["multiAz"] is True and inputs["storageEncrypted"] is True and inputs["publiclyAccessible"] is False
    assert inputs["backupRetentionPeriod"] == run.settings.database.backup_retention_days >= 7
    assert inputs["deletionProtection"] is True and inputs["skipFinalSnapshot"] is False and inputs["finalSnapshotIdentifier"]
    assert instance.protect is True
    # The same key as MLflow's instance: the platform's RDS key, never the AWS-managed one.
    (mlflow,) = [i for i in run.of_type(INSTANCE) if i.inputs["engine"] == "postgres"]
    assert inputs["kmsKeyId"] == mlflow.inputs["kmsKeyId"] and inputs["kmsKeyId"].startswith("arn:aws:kms:")
    (parameters,) = [g for g in run.of_type("aws:rds/parameterGroup:ParameterGroup") if g.inputs["family"].startswith("mysql")]
    assert parameters.inputs["family"] == f"mysql{ENGINE_VERSION}"
    assert {p["name"]: p["value"] for p in parameters.inputs["parameters"]}["require_secure_transport"] == "ON"
    assert inputs["parameterGroupName"] == parameters.outputs["name"]


def test_kfp_rds_admits_the_cluster_security_group_only(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The RDS MySQL's security group admits MySQL's port from the cluster security group only, never an address range."""
    run = stack_runs["prod"]
    (group,) = [g for g in run.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name.endswith("-kfp-db")]
    (cluster,) = run.of_type("aws:eks/cluster:Cluster")
    (ingress,) = group.inputs["ingress"]
    assert ingress["securityGroups"] == [cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]]
    assert (ingress["fromPort"], ingress["toPort"]) == (flows.MYSQL_PORT, flows.MYSQL_PORT) and not ingress.get("cidrBlocks")
    instance = _kfp_instance(run)
    assert instance is not None and group.urn in instance.property_dependencies["vpcSecurityGroupIds"]
    assert len(instance.inputs["vpcSecurityGroupIds"]) == 1


@pytest.mark.parametrize("stack", ["dev", "staging", "local"])
def test_other_stacks_keep_the_in_cluster_mysql(stack_runs: dict[str, offline.OfflineRun], stack: str) -> None:
    """dev, staging and local keep KFP's in-cluster MySQL: no RDS MySQL, an overlay without -rds, its dump job."""
    run = stack_runs[stack]
    assert _kfp_instance(run) is None
    assert not [d for d in run.of_type(DIRECTORY) if d.inputs["directory"].endswith("-rds")]
    assert [r for r in run.of_type("kubernetes:batch/v1:CronJob") if r.inputs["metadata"]["name"] == "kfp-mysql-backup"]


def test_prod_points_every_kfp_client_at_the_rds_instance(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Prod's KFP reads RDS's address, its master user and the region's RDS CA bundle; MLMD's config names the same host."""
    run = stack_runs["prod"]
    instance = _kfp_instance(run)
    assert instance is not None
    address = instance.outputs["address"]
    (directory,) = [d for d in run.of_type(DIRECTORY) if "cluster-scoped" not in d.inputs["directory"]]
    assert directory.inputs["directory"].endswith("/s3-system-rds")
    assert _named(run, "kubernetes:core/v1:ConfigMap", kfp.DATABASE_CONFIG)["data"] == {"host": address}
    # The password is RDS's own, read by the operator from the instance's secret: never in the program.
    assert instance.inputs["manageMasterUserPassword"] is True and "password" not in instance.inputs
    (credentials_key,) = [k for k in run.of_type("aws:kms/key:Key") if k.name.endswith("-credentials")]
    assert instance.inputs["masterUserSecretKmsKeyId"] == credentials_key.outputs["arn"]
    rds_secret = {"key": instance.outputs["masterUserSecrets"][0]["secretArn"], "property": "password"}
    secret = _synced(run, kfp.MYSQL_SECRET)
    assert secret["template"] == {"username": USERNAME, "password": f"{{{{.{credentials.KFP_MYSQL.key}}}}}"}
    assert USERNAME == instance.inputs["username"] and secret["remote"] == {credentials.KFP_MYSQL.key: rds_secret}
    ca = _named(run, "kubernetes:core/v1:ConfigMap", kfp.MYSQL_CA_CONFIG_MAP)["data"]
    assert ca == {"ca.crt": rds_ca_bundle(run.settings.aws_region)}
    synced = _synced(run, kfp.MLMD_CONFIG_SECRET)
    assert synced["remote"] == {credentials.KFP_MYSQL.key: rds_secret}
    mlmd = synced["template"][kfp.MLMD_CONFIG_FILE]
    assert f"host: {json.dumps(address)}" in mlmd and f"user: {json.dumps(USERNAME)}" in mlmd and f"ca: {json.dumps(kfp.MYSQL_CA_FILE)}" in mlmd
    # No in-cluster MySQL's key pair, password or dump on prod.
    assert not [r for r in run.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == kfp.MYSQL_TLS_SECRET]
    assert not [r for r in run.resources if r.name.endswith("-mysql-root")]
    assert not [r for r in run.of_type("kubernetes:batch/v1:CronJob") if r.inputs["metadata"]["name"] == "kfp-mysql-backup"]


def test_kfp_clients_reach_rds_in_the_vpc_on_mysql_port_only(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """On prod the three MySQL clients, and nothing else of kubeflow, may open the VPC on 3306; no flow to an in-cluster MySQL."""
    settings = stack_runs["prod"].settings
    found = flows.kfp_database_flows(settings, settings.network.vpc_cidr, _store(stack_runs["prod"]))
    assert {(f.name, f.source, f.target, f.ports, f.cidr) for f in found} == {
        (f"{client}-to-rds", "kubeflow", "", (flows.MYSQL_PORT,), settings.network.vpc_cidr) for client in flows.KFP_MYSQL_CLIENTS}
    assert [f.source_pods for f in found] == list(flows.KFP_MYSQL_CLIENTS.values())
    dev = stack_runs["dev"].settings
    names = {f.name for f in flows.platform_flows(dev, dev.network.vpc_cidr, _store(stack_runs["dev"]))}
    assert {f"{client}-to-mysql" for client in flows.KFP_MYSQL_CLIENTS} <= names and not any(n.endswith("-to-rds") and "mlflow" not in n for n in names)


def _store(run: offline.OfflineRun) -> ObjectStore:
    return object_store.s3(run.settings.aws_region, "data", "artifacts", run.settings.network.vpc_cidr)


def test_an_overlay_that_does_not_exist_is_refused_in_one_line() -> None:
    """KFP on MinIO with RDS has no overlay: the component says which and how to add one, before anything is declared."""
    minio = object_store.minio("us-east-1", ("mlflow", "pipelines"))
    with pytest.raises(ValueError, match=r"no KFP overlay minio-rds .* with kfpDatabase rds; add one"):
        kfp.overlay(minio, ANYWHERE, external_database=True)


@pytest.mark.parametrize("text, found", [
    ("", "no PEM block"),
    ("-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nB\n-----END PRIVATE KEY-----\n", "PRIVATE KEY"),
    ("<html>moved</html>", "no PEM block"),
])
def test_rds_ca_bundle_holds_certificates_only(text: str, found: str) -> None:
    """A bundle that is not PEM certificates only (an error page, a key) is refused in one line naming what it holds."""
    with pytest.raises(RuntimeError, match=rf"RDS CA bundle for eu-west-1: expected PEM certificates only, found .*{found}"):
        rds_ca.checked("eu-west-1", text)
    good = rds_ca_bundle("eu-west-1")
    assert rds_ca.checked("eu-west-1", good) == good
