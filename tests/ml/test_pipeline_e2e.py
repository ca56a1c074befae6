"""End to end: the fraud pipeline run with kfp.local against a real MLflow server and registry."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipelines.fraud.contract import FEATURES, LABEL
from pipelines.fraud.pipeline import DEFAULT_MODEL_NAME
from pipelines.run import PipelineFailed, run_pipeline

# The worker that runs the demo runs these right after it (pytest-xdist --dist loadgroup, conftest.py).
pytestmark = pytest.mark.xdist_group("demo")

# The generator's signal gives a held-out ROC AUC of about 0.94 with the default
# grid; 0.90 (also the gate's default floor) catches a broken feature pipeline
# or label leak-free regression while leaving room for seed-to-seed variance.
AUC_FLOOR = 0.90


def client(tracking_uri: str) -> mlflow.MlflowClient:
    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.MlflowClient()


def test_first_run_becomes_champion(runs: dict, tracking_uri: str) -> None:
    """With no champion yet, a model above the floors is registered and aliased champion."""
    first = runs["first"]
    assert first.promoted, first.gate_reason
    assert first.gate_reason.startswith("promoted: no champion yet")
    champion = client(tracking_uri).get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion")
    assert champion.version == first.version


def test_champion_beats_the_floor_on_held_out_data(runs: dict, tracking_uri: str) -> None:
    """The champion's held-out ROC AUC (logged by evaluate) is above the justified floor."""
    version = client(tracking_uri).get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion")
    run = client(tracking_uri).get_run(version.run_id)
    assert run.data.metrics["test_roc_auc"] > AUC_FLOOR
    assert {"test_pr_auc", "test_precision", "test_recall", "test_f1", "p95_latency_ms", "cv_roc_auc"} <= set(run.data.metrics)
    artifacts = {a.path for a in client(tracking_uri).list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/roc_curve.png", "evaluation/pr_curve.png", "evaluation/confusion_matrix.json"} <= artifacts


def test_lineage_tags(runs: dict, tracking_uri: str, fraud_csv: Path) -> None:
    """The registered version carries the data hash, git commit, pipeline run and gate decision."""
    import hashlib

    version = client(tracking_uri).get_model_version(DEFAULT_MODEL_NAME, runs["first"].version)
    assert version.tags["data_sha256"] == hashlib.sha256(fraud_csv.read_bytes()).hexdigest()
    assert len(version.tags["git_commit"]) in (40, 7) or version.tags["git_commit"] == "unknown"
    assert version.tags["pipeline_run"].startswith("fraud-detection-training-")
    assert version.tags["gate"] == runs["first"].gate_reason
    assert version.tags["mlflow_run_id"] == version.run_id


def test_champion_loads_and_predicts(runs: dict, tracking_uri: str, fraud_csv: Path) -> None:
    """models:/<name>@champion loads with its signature and scores real rows."""
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.sklearn.load_model(f"models:/{DEFAULT_MODEL_NAME}@champion")
    frame = pd.read_csv(fraud_csv)
    scores = model.predict_proba(frame.drop(columns=[LABEL]))[:, 1]
    assert roc_auc_score(frame[LABEL], scores) > AUC_FLOOR
    info = mlflow.models.get_model_info(f"models:/{DEFAULT_MODEL_NAME}@champion")
    assert [c["name"] for c in info.signature.inputs.to_dict()] == list(frame.drop(columns=[LABEL]).columns)
    assert runs["first"].storage_uri.startswith("mlflow-artifacts:/")


def test_weaker_run_is_challenger_never_champion(runs: dict, tracking_uri: str) -> None:
    """A deliberately weak configuration is registered as challenger; the champion does not move."""
    second = runs["second"]
    assert not second.promoted
    assert second.gate_reason.startswith("rejected:") and "does not beat champion" in second.gate_reason
    mlflow_client = client(tracking_uri)
    # The challenger alias moves on with each registration (the demo's drift retraining registers a third version).
    assert "champion" not in mlflow_client.get_model_version(DEFAULT_MODEL_NAME, second.version).aliases
    assert mlflow_client.get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion").version == runs["first"].version
    assert "promoted" not in mlflow_client.get_model_version(DEFAULT_MODEL_NAME, second.version).tags


def test_bad_data_stops_at_validate_and_registers_nothing(fraud_csv: Path, tmp_path: Path, tracking_uri: str) -> None:
    """A bad file (here semicolon-delimited) stops the run at validate with the contract's one line; no model version appears.

    Every other refusal of the contract is tested on the contract itself (tests/ml/test_contract.py).
    """
    path = tmp_path / "semicolons.csv"
    pd.read_csv(fraud_csv).to_csv(path, index=False, sep=";")
    with pytest.raises(PipelineFailed) as failure:
        run_pipeline(str(path), tracking_uri, tmp_path / "kfp", model_name="bad-semicolons", run_name="bad")
    reason = str(failure.value)
    assert reason.startswith("validate: ") and "the file looks semicolon-delimited" in reason, reason
    assert "\n" not in reason
    assert client(tracking_uri).search_model_versions("name='bad-semicolons'") == []


def test_no_data_yet_ends_the_run_cleanly(tmp_path: Path, tracking_uri: str) -> None:
    """A run before any data lands (a new environment's first schedule) succeeds, trains nothing and says so."""
    result = run_pipeline(str(tmp_path / "not-yet.csv"), tracking_uri, tmp_path / "kfp", model_name="no-data-yet")
    assert (result.promoted, result.version) == (False, "")
    assert result.gate_reason == f"no data yet at {tmp_path / 'not-yet.csv'}"
    assert client(tracking_uri).search_model_versions("name='no-data-yet'") == []


RUNTIME_EXPORT = """
import json, sys
from tooling import offline
from tooling import render

root = render.upstream_root()
if root is None:
    print(json.dumps(None)); sys.exit(0)
run = offline.run("staging")
(release,) = [r for r in run.of_type(render.RELEASE) if r.inputs["chart"].endswith("kserve-runtime-configs")]
(runtime,) = [o for o in render.render_release(release, root) if o["metadata"]["name"] == "kserve-mlserver"]
print(json.dumps(runtime))
"""


WIDTH = len(FEATURES)
MALFORMED = {
    "shape/data mismatch": ([2, WIDTH], "FP64", [0.5] * WIDTH),
    "wrong feature count": ([1, WIDTH - 1], "FP64", [0.5] * (WIDTH - 1)),
    "wrong datatype": ([1, WIDTH], "BYTES", ["x"] * WIDTH),
    "empty batch": ([0, WIDTH], "FP64", []),
    "not numbers": ([1, WIDTH], "FP64", ["a"] * WIDTH),
    "three dimensions": ([1, 1, WIDTH], "FP64", [0.5] * WIDTH),
}


def test_champion_serves_as_the_rendered_mlserver_runtime(runs: dict, tracking_uri: str, fraud_csv: Path, tmp_path: Path) -> None:
    """The registered champion, laid out as KServe's storage initializer leaves it, serves V2 under the rendered
    kserve-mlserver runtime with the chart's env: the runtime class it carries answers every malformed request with a 4xx."""
    import subprocess

    import requests

    from demo.serving import model_server, prepare_model_dir, v2_request

    root = Path(__file__).resolve().parents[2]
    exported = subprocess.run([str(root / ".venv-infra" / "bin" / "python"), "-c", RUNTIME_EXPORT], cwd=root,
                              capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr
    runtime = json.loads(exported.stdout.strip().splitlines()[-1])
    if runtime is None:
        pytest.skip("no upstream sources: ../shared/upstream is absent; run `make upstream`")
    assert not runtime["spec"].get("disabled") and "v2" in runtime["spec"]["protocolVersions"]
    (container,) = runtime["spec"]["containers"]
    # The storage initializer copies the storageUri's contents (the registered model's folder) to /mnt/models.
    mlflow.set_tracking_uri(tracking_uri)
    downloaded = mlflow.artifacts.download_artifacts(f"models:/{DEFAULT_MODEL_NAME}@champion", dst_path=str(tmp_path / "download"))
    mnt = prepare_model_dir(Path(downloaded), tmp_path / "mnt" / "models")
    assert (mnt / "code" / "serving_runtime.py").exists(), "the registered model carries its serving runtime"
    runtime_env = {item["name"]: item["value"].replace("/mnt/models", str(mnt)) for item in container["env"]}
    # The modelClass label KServe's defaulter sets for sklearn, which the runtime's template reads.
    runtime_env["MLSERVER_MODEL_IMPLEMENTATION"] = runtime_env["MLSERVER_MODEL_IMPLEMENTATION"].replace(
        "{{.Labels.modelClass}}", "mlserver_sklearn.SKLearnModel"
    )
    model_name = "fraud-model-serving"
    with model_server(mnt, model_name, tmp_path / "mlserver.log", runtime_env=runtime_env) as server:
        rows = pd.read_csv(fraud_csv).drop(columns=[LABEL]).head(3).to_numpy(dtype=float).tolist()
        response = server.infer(v2_request(rows))
        assert response.status_code == 200, response.text
        outputs = response.json()["outputs"]
        assert {o["name"] for o in outputs} == {"fraud_probability", "fraud_decision"} and all(o["shape"][0] == 3 for o in outputs)
        for name, (shape, datatype, data) in MALFORMED.items():
            refused = server.infer({"inputs": [{"name": "features", "shape": shape, "datatype": datatype, "data": data}]})
            assert 400 <= refused.status_code < 500, (name, refused.status_code, refused.text)
            assert "\n" not in refused.json().get("error", refused.text).strip(), name
        unknown = requests.post(f"{server.url}/v2/models/nope/infer", json=v2_request(rows), timeout=10)
        assert unknown.status_code == 404
        # The chart's probes (tests/charts: startup and liveness on /v2/health/live, readiness on /v2/health/ready).
        for probe in ("/v2/health/live", "/v2/health/ready"):
            assert requests.get(f"{server.url}{probe}", timeout=5).status_code == 200, probe
        assert server.infer(v2_request(rows)).status_code == 200, "the server answers after the malformed requests"
