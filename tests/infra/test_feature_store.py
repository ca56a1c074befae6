"""The feature store as a platform component (issue 27 item 3): its online store per stack, the identities scoped to it,
the feature server's configuration, and the local database the program creates in the in-cluster PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest
import yaml

from infra import feature_store, versions, workloads
from infra.components import feast_database
from infra.components.irsa_role import access_policy
from pipelines.features import repo
from tests.infra.test_database_tls import BINDIR, declared, server  # noqa: F401 - the real PostgreSQL fixtures
from tooling import offline

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/x"
BUCKETS = {"data": "arn:aws:s3:::data", "artifacts": "arn:aws:s3:::artifacts"}
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
STEP_IMAGE = {"pipelineStepImageDigest": "sha256:" + "5e" * 32}


@pytest.fixture(scope="module")
def runs() -> dict[str, offline.OfflineRun]:
    """The prod, staging and local graphs."""
    return {stack: offline.run(stack, STEP_IMAGE) for stack in ("prod", "staging", "local")}


def _statements(workload: workloads.Workload) -> list[dict]:
    return json.loads(access_policy(workload, BUCKETS, KEY, {repo.DYNAMODB_TABLE: TABLE_ARN}))["Statement"]


def _release_values(run: offline.OfflineRun) -> dict:
    (release,) = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == versions.FEAST_FEATURE_SERVER.chart]
    return release.inputs["values"]


def test_feature_server_reads_only_its_table() -> None:
    """IRSA scoped to the table: the server looks items up in exactly the program's table, never writes or creates one."""
    tables = [s for s in _statements(workloads.FEATURE_SERVER) if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert [(s["Resource"], sorted(s["Action"])) for s in tables] == [
        (TABLE_ARN, ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem"])]


def test_feature_steps_write_the_table_but_never_create_or_delete_it() -> None:
    """The pipelines' role puts items into the table (materialize) and writes the registry prefix, nothing more."""
    statements = _statements(workloads.PIPELINES)
    actions = {a for s in statements if s["Resource"] == TABLE_ARN for a in s["Action"]}
    assert {"dynamodb:BatchWriteItem", "dynamodb:PutItem"} <= actions
    assert not actions & {"dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:Scan", "dynamodb:*"}
    assert any(s["Resource"] == f"{BUCKETS['data']}/{workloads.FEATURE_STORE_PREFIX}*" and "s3:PutObject" in s["Action"] for s in statements)


def test_a_table_the_program_did_not_create_is_refused() -> None:
    """A workload naming a table the program has no ARN for fails with one line naming it."""
    with pytest.raises(ValueError, match=r"table 'fraud.customer_aggregates' is not one the program created"):
        access_policy(workloads.FEATURE_SERVER, BUCKETS, KEY, {})


def test_feature_server_may_head_the_registry_bucket() -> None:
    """Feast's S3 registry calls HeadBucket (s3:ListBucket without a prefix): an unconditioned listing of the data bucket."""
    heads = [s for s in _statements(workloads.FEATURE_SERVER) if s["Action"] == "s3:ListBucket" and "Condition" not in s]
    assert [s["Resource"] for s in heads] == [BUCKETS["data"]]


@pytest.mark.parametrize(("stack", "prod"), [("prod", True), ("staging", False)])
def test_online_table_is_encrypted_recoverable_and_protected(runs: dict, stack: str, prod: bool) -> None:
    """The DynamoDB table: the platform's S3 key, PITR and protection (deletion protection, retained) in prod only."""
    run = runs[stack]
    (table,) = run.of_type("aws:dynamodb/table:Table")
    (key,) = [k for k in run.of_type("aws:kms/key:Key") if k.name.endswith("-s3")]
    assert table.inputs["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": key.outputs["arn"]}, table.urn
    assert table.inputs["name"] == feature_store.dynamodb_table(run.settings)
    assert table.inputs["hashKey"] == "entity_id" and table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["pointInTimeRecovery"] == {"enabled": prod}
    assert (table.protect, table.retain_on_delete, table.inputs["deletionProtectionEnabled"]) == (prod, prod, prod), table.urn
    policies = [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-feature-server")]
    (policy,) = policies
    resources = {s["Resource"] for s in json.loads(policy.inputs["policy"])["Statement"] if "dynamodb:GetItem" in s["Action"]}
    assert resources == {table.outputs["arn"]}, policy.urn


def test_feature_store_yaml_names_the_stack_bucket_and_table(runs: dict) -> None:
    """The server's feature_store.yaml: registry on the data bucket, DynamoDB in the region, the table the program made."""
    run = runs["staging"]
    values = _release_values(run)
    config = yaml.safe_load(base64.b64decode(values["feature_store_yaml_base64"]))
    (bucket,) = [b.inputs["bucket"] for b in run.of_type("aws:s3/bucket:Bucket") if "-data-" in b.inputs["bucket"]]
    assert config["registry"]["path"] == repo.registry_path(f"s3://{bucket}")
    online = config["online_store"]
    assert (online["type"], online["region"]) == ("dynamodb", run.settings.aws_region)
    assert online["table_name_template"].format(project=repo.PROJECT, table_name=repo.AGGREGATES_VIEW) == \
        run.of_type("aws:dynamodb/table:Table")[0].inputs["name"]
    (account,) = [a for a in run.of_type("kubernetes:core/v1:ServiceAccount") if a.inputs["metadata"]["namespace"] == "feast"]
    assert account.inputs["metadata"]["name"] == values["serviceAccount"]["name"]
    (role,) = [r for r in run.of_type("aws:iam/role:Role") if r.name == f"{run.settings.name}-{workloads.FEATURE_SERVER.name}"]
    assert account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    assert values["image"] == dict(zip(("repository", "tag"), versions.IMAGES["feast-feature-server"].rsplit(":", 1), strict=True))


def test_local_online_store_is_the_cluster_postgres_over_verified_tls(runs: dict) -> None:
    """Local: the in-cluster PostgreSQL, verify-full against the mounted CA, the password from a Secret the program made."""
    run = runs["local"]
    values = _release_values(run)
    online = yaml.safe_load(base64.b64decode(values["feature_store_yaml_base64"]))["online_store"]
    assert online["host"] == "postgres.postgres.svc.cluster.local" and online["sslmode"] == "verify-full"
    mounts = {m["mountPath"]: m["name"] for m in values["volumeMounts"]}
    (volume,) = [v for v in values["volumes"] if v["name"] == mounts[feature_store.POSTGRES_CA_DIR]]
    assert online["sslrootcert_path"].startswith(feature_store.POSTGRES_CA_DIR + "/")
    (ca,) = [c for c in run.of_type("kubernetes:core/v1:ConfigMap") if c.inputs["metadata"] == {"name": volume["configMap"]["name"], "namespace": "feast"}]
    assert "ca.crt" in ca.inputs["data"]
    (env,) = [e for e in values["extraEnvs"] if e["name"] == repo.POSTGRES_PASSWORD_ENV]
    ref = env["valueFrom"]["secretKeyRef"]
    secrets = {s.inputs["metadata"]["namespace"] for s in run.of_type("kubernetes:core/v1:Secret") if s.inputs["metadata"]["name"] == ref["name"]}
    assert {"feast", "kubeflow", "postgres"} <= secrets
    assert not [e for e in values["extraEnvs"] if "PASSWORD" in e["name"] and "value" in e]


def test_serving_chart_gets_the_feature_servers_address(monkeypatch: pytest.MonkeyPatch, runs: dict) -> None:
    """The platform values name the feature server's Service in its namespace, on the chart's Service port."""
    from infra.components import model_serving

    monkeypatch.setattr(model_serving, "chart_has", lambda key: key == "transformer")
    values = model_serving.platform_values(runs["local"].settings, None, {}, "kube-prometheus-stack")
    assert values["transformer"]["featureServerUrl"] == f"http://{feature_store.RELEASE}.feast.svc.cluster.local:{repo.SERVICE_PORT}"
    assert values["transformer"]["featureServer"]["port"] == repo.SERVER_PORT


def test_feast_pins_move_together() -> None:
    """The chart, the server image and the SDK the feature steps run are one Feast release."""
    requirements = (offline.ROOT / "requirements" / "features.txt").read_text()
    assert f"feast[postgres,aws]=={versions.FEAST_FEATURE_SERVER.version}" in requirements
    assert versions.IMAGES["feast-feature-server"].endswith(f":{versions.FEAST_FEATURE_SERVER.version}")


@pytest.mark.skipif(BINDIR is None, reason="needs PostgreSQL's server and psql (apt install postgresql)")
def test_database_job_creates_role_database_and_schema_idempotently(declared: dict, server: dict, runs: dict) -> None:  # noqa: F811
    """The local Job's script, run twice against a real PostgreSQL over verified TLS, leaves a feast user who owns its schema."""
    (job,) = [j.inputs for j in runs["local"].of_type("kubernetes:batch/v1:Job") if j.name == "feast-database-job"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    dsn = env["ADMIN_DSN"].replace(feast_database.cluster_postgres.CA_FILE, str(server["ca"])).replace("port=5432", f"port={server['port']}")
    base = {"PATH": os.environ["PATH"], "FEAST_SQL": env["FEAST_SQL"], "FEAST_PASSWORD": "feast-secret-1",
            "ADMIN_DSN": f"{dsn} hostaddr=127.0.0.1", "PGPASSWORD": declared["password"]}
    for _ in range(2):
        done = subprocess.run(container["command"], env=base, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    feast_dsn = base["ADMIN_DSN"].replace("dbname=mlflow", f"dbname={repo.POSTGRES_DATABASE}").replace("user=mlflow", f"user={repo.POSTGRES_USER}")
    check = subprocess.run([str(BINDIR / "psql"), feast_dsn, "-Atc", f"CREATE TABLE {repo.POSTGRES_SCHEMA}.probe (id int); SELECT current_user"],
                           env={"PATH": os.environ["PATH"], "PGPASSWORD": "feast-secret-1"}, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and check.stdout.strip().endswith(repo.POSTGRES_USER), check.stderr
