"""The scheduled training runs read their features through the stack's feature store (issue 27 item 4): the source
key, the run parameters the program passes, and what the feature steps need in kubeflow (identity, CA, password)."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from infra import config, versions, workloads
from infra.components.training_pipelines import COMPILED
from infra.config.pipelines import DATA_KEYS
from infra.database_tls import CA_CONFIG_MAP
from infra.namespaces import KUBEFLOW
from pipelines.cluster import OBJECT_STORE_CREDENTIALS_SECRET
from pipelines.features import repo
from tests.infra.conftest import STEP_IMAGE
from tooling import offline

TRAINING, DRIFT = "fraud-detection-training", "model-drift"


@pytest.fixture(scope="module")
def runs() -> dict[str, offline.OfflineRun]:
    """An AWS stack's graph and the local one's, with the pipelines deployed (the images' digests given)."""
    return {stack: offline.run(stack, STEP_IMAGE) for stack in ("staging", "local")}


def _settings(stack: str, **overrides: object) -> config.Settings:
    return config.parse_settings(config.decode_config(offline.stack_config(stack, overrides)))


def _run_parameters(run: offline.OfflineRun) -> dict[str, dict]:
    """Each upload Job's recurring-run parameters, by pipeline name."""
    found = {}
    for job in run.of_type("kubernetes:batch/v1:Job"):
        env = {e["name"]: e.get("value") for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
        if "PARAMETERS" in env:
            found[env["PIPELINE_NAME"]] = json.loads(env["PARAMETERS"])
    return found


def _server_config(run: offline.OfflineRun) -> dict:
    (release,) = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == versions.FEAST_FEATURE_SERVER.chart]
    return yaml.safe_load(base64.b64decode(release.inputs["values"]["feature_store_yaml_base64"]))


def test_feature_source_defaults_to_feast_and_picks_its_data_key() -> None:
    """pipelineFeatureSource: feast on every shipped stack, raw transactions by default; file reads the training CSV."""
    for stack in offline.STACKS:
        assert _settings(stack).pipelines.feature_source == "feast", stack
    assert _settings("dev").pipelines.data_uri_in("b") == "s3://b/fraud/transactions.parquet"
    assert _settings("dev", pipelineFeatureSource="file").pipelines.data_uri_in("b") == "s3://b/fraud/latest.csv"
    assert _settings("dev", pipelineDataUri="s3://x/raw.csv").pipelines.data_uri_in("b") == "s3://x/raw.csv"
    assert set(DATA_KEYS) == set(repo.FEATURE_SOURCES)


def test_recurring_runs_read_through_the_feature_servers_own_config(runs: dict) -> None:
    """The training and drift runs get feature_source and the feature server's feature_store.yaml, naming the online
    store the stack has (DynamoDB with its table on AWS, the in-cluster PostgreSQL over verified TLS locally)."""
    for stack, run in runs.items():
        parameters = _run_parameters(run)
        training = parameters[TRAINING]
        assert training["feature_source"] == "feast", stack
        assert training["data_uri"].endswith("/fraud/transactions.parquet"), training["data_uri"]
        steps_config = yaml.safe_load(training["feature_store"])
        assert steps_config == _server_config(run), f"{stack}: the steps must write what the feature server reads"
        online = steps_config["online_store"]
        if run.settings.is_aws:
            (table,) = run.of_type("aws:dynamodb/table:Table")
            assert online["type"] == "dynamodb" and online["region"] == run.settings.aws_region
            assert online["table_name_template"].format(project=repo.PROJECT, table_name=repo.AGGREGATES_VIEW) == table.inputs["name"]
            drift = parameters[DRIFT]
            for key in ("feature_source", "feature_store", "data_uri"):
                assert drift[key] == training[key], f"{stack}: drift's retraining reads {key} like the schedule"
        else:
            assert (online["type"], online["sslmode"]) == ("postgres", "verify-full")
            assert online["host"] == "postgres.postgres.svc.cluster.local"
            assert online["password"] == "${" + repo.POSTGRES_PASSWORD_ENV + "}", "the password comes from the env, never the file"


def test_a_file_stack_passes_file_and_the_training_csv() -> None:
    """pipelineFeatureSource: file reaches the recurring run with the training CSV's default path."""
    run = offline.run("staging", {**STEP_IMAGE, "pipelineFeatureSource": "file"})
    training = _run_parameters(run)[TRAINING]
    assert training["feature_source"] == "file"
    assert training["data_uri"] == f"s3://{run.outputs['dataBucket']}/fraud/latest.csv"


def test_pipeline_steps_may_write_the_online_table(runs: dict) -> None:
    """AWS: the pipeline steps' IRSA role (pipeline-runner) writes the table the feature_store.yaml names, no other."""
    run = runs["staging"]
    assert "pipeline-runner" in workloads.PIPELINES.service_accounts
    (table,) = run.of_type("aws:dynamodb/table:Table")
    (policy,) = [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if p.name == f"{run.settings.name}-{workloads.PIPELINES.name}"]
    tables = [s for s in json.loads(policy.inputs["policy"])["Statement"] if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert [s["Resource"] for s in tables] == [table.outputs["arn"]]
    assert {"dynamodb:BatchWriteItem", "dynamodb:PutItem"} <= set(tables[0]["Action"])


def test_local_feature_steps_find_the_ca_and_password_they_mount(runs: dict) -> None:
    """Local: kubeflow holds the postgres-ca ConfigMap (the platform's CA) and the feast-postgres Secret that the
    compiled feature steps mount by name (pipelines/fraud/feature_steps.py), so verify-full can succeed."""
    run = runs["local"]
    maps = {c.inputs["metadata"]["namespace"]: c.inputs["data"] for c in run.of_type("kubernetes:core/v1:ConfigMap")
            if c.inputs["metadata"]["name"] == CA_CONFIG_MAP}
    assert KUBEFLOW.name in maps, f"no {CA_CONFIG_MAP} ConfigMap in {KUBEFLOW.name}: {sorted(maps)}"
    assert maps[KUBEFLOW.name] == maps["feast"] and maps[KUBEFLOW.name]["ca.crt"]
    secrets = {s.inputs["metadata"]["namespace"] for s in run.of_type("kubernetes:core/v1:Secret")
               if s.inputs["metadata"]["name"] == repo.POSTGRES_SECRET}
    assert KUBEFLOW.name in secrets
    executors = list(yaml.safe_load_all((COMPILED / f"{TRAINING}.yaml").read_text()))[1]["platforms"]["kubernetes"][
        "deploymentSpec"]["executors"]
    writers = {name: spec for name, spec in executors.items() if spec.get("podMetadata", {}).get("labels") == repo.FEATURE_STEP_PODS}
    assert sorted(writers) == ["exec-materialize", "exec-training-set"]
    for name, spec in writers.items():
        assert [m["configMapName"] for m in spec["configMapAsVolume"]] == [CA_CONFIG_MAP], name
        assert [s["secretName"] for s in spec["secretAsEnv"]] == [repo.POSTGRES_SECRET, OBJECT_STORE_CREDENTIALS_SECRET], name
