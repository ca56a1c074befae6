"""Drift monitoring: KServe's request-log layout, the PSI statistic, and the drift pipeline end to end."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from demo.serving import v2_request
from pipelines.drift import requests as request_log
from pipelines.drift.stats import feature_drift, psi
from pipelines.fraud.contract import COLUMNS, FEATURES
from pipelines.fraud.data import drifted, generate
from pipelines.fraud.pipeline import DEFAULT_MODEL_NAME
from pipelines.run import run_drift

# These tests run on one worker, after its other tests: the demo's run is ready by then (conftest.py).
pytestmark = pytest.mark.xdist_group("after-demo")


KINDS = [COLUMNS[name].kind for name in FEATURES]


def _v2(rows: np.ndarray) -> bytes:
    """The body of a V2 infer request for ``rows``, as the demo and the cluster's clients send it."""
    return json.dumps(v2_request(rows.tolist())).encode()


def test_object_key_is_kserve_agents_layout() -> None:
    """<url path>/<namespace>/<isvc>/<component>/<storage path>/<id>-request.json, as KServe v0.20.0's BlobStore.getObjectKey builds it."""
    key = request_log.object_key("inference-logs", "models", "fraud", "abc")
    assert key == "inference-logs/models/fraud/predictor/requests/abc-request.json"


def test_records_are_read_back_single_and_batched() -> None:
    """A single LogRequest object and a JSON array of them (the agent's batched form) both give their rows."""
    rows = np.arange(14, dtype=float).reshape(2, 7)
    single = json.dumps(request_log.log_record(_v2(rows), "a", "models", "fraud"))
    batch = json.dumps([request_log.log_record(_v2(rows[:1]), "b", "models", "fraud"),
                        {**request_log.log_record(b"{}", "c", "models", "fraud"), "reqType": "org.kubeflow.serving.inference.response"}])
    found, skipped = request_log.feature_rows([single, batch], 7)
    assert found.shape == (3, 7) and skipped == 0
    assert found[0].tolist() == rows[0].tolist()


def test_unreadable_records_are_counted_not_fatal() -> None:
    """A body of another shape or not V2 is skipped and counted."""
    wrong = json.dumps(request_log.log_record(_v2(np.ones((1, 6))), "a", "models", "fraud"))
    garbage = json.dumps({"reqType": "org.kubeflow.serving.inference.request", "bytes": base64.b64encode(b"nope").decode()})
    found, skipped = request_log.feature_rows([wrong, garbage, "{not json"], 7)
    assert found.shape == (0, 7) and skipped == 3


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shift() -> None:
    """PSI of a sample with itself is 0; a 8x scale shift of a numeric feature and a flipped binary exceed 0.2."""
    rng = np.random.default_rng(0)
    values = rng.lognormal(2.3, 1.2, 5000)
    assert psi(values, values, "float") == pytest.approx(0.0, abs=1e-9)
    assert psi(values, values * 8, "float") > 0.2
    assert psi(rng.binomial(1, 0.35, 5000), rng.binomial(1, 0.05, 5000), "binary") > 0.2
    assert psi(values, rng.lognormal(2.3, 1.2, 5000), "float") < 0.1


def test_feature_drift_names_the_shifted_features() -> None:
    """On the generator's drifted batch the shifted features, and only those, drift."""
    reference = generate(5000, seed=1)[FEATURES].to_numpy(dtype=float)
    current = drifted(generate(1000, seed=2))[FEATURES].to_numpy(dtype=float)
    report = feature_drift(reference, current, FEATURES, KINDS, 0.2)
    assert set(report["drifted"]) == {"distance_from_home", "online_order", "used_chip"}
    assert report["drift_score"] == pytest.approx(3 / 7)
    calm = feature_drift(reference, generate(1000, seed=3)[FEATURES].to_numpy(dtype=float), FEATURES, KINDS, 0.2)
    assert calm["drifted"] == [] and calm["drift_score"] == 0.0


class _Pushgateway(BaseHTTPRequestHandler):
    received: list[tuple[str, str]] = []

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def champion(runs: dict) -> str:
    """The champion of the shared training runs (its training run logged the drift reference sample)."""
    assert runs["first"].promoted, runs["first"].gate_reason
    return runs["first"].version


def _log(rows: pd.DataFrame, root: Path, batch: int = 50) -> None:
    values = rows[FEATURES].to_numpy(dtype=float)
    for start in range(0, len(values), batch):
        request_log.write_record(root, _v2(values[start:start + batch]), "models", "fraud")


def test_drift_pipeline_reports_the_drifted_features_to_mlflow_and_prometheus(
    champion: str, tracking_uri: str, fraud_csv: Path, tmp_path: Path
) -> None:
    """The drift pipeline finds the shifted features, records the report in MLflow and pushes model_drift_score."""
    import mlflow

    _log(drifted(pd.read_csv(fraud_csv).sample(n=600, random_state=1)), tmp_path / "logs")
    server = HTTPServer(("127.0.0.1", 0), _Pushgateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        found = run_drift(str(tmp_path / "logs"), tracking_uri, tmp_path / "kfp", "models", "fraud", echo=False,
                          pushgateway_url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert found.status == "ok"
    assert {"distance_from_home", "online_order", "used_chip"} <= set(found.drifted)
    assert found.drift_score == pytest.approx(len(found.drifted) / len(FEATURES))
    (path, body), = _Pushgateway.received
    assert path == "/metrics/job/model-drift/model/fraud/namespace/models"
    assert f"model_drift_score {found.drift_score}" in body
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    assert client.get_model_version(DEFAULT_MODEL_NAME, champion).tags["drift_score"] == f"{found.drift_score:.3f}"
    run = mlflow.search_runs(experiment_names=[f"{DEFAULT_MODEL_NAME}-drift"], order_by=["attributes.start_time DESC"],
                             max_results=1, output_format="list")[0]
    report = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/drift_report.json")
    assert report["drifted"] == found.drifted and report["champion_version"] == champion
    # The run's report artifact holds the same verdict, with its status line.
    (artifact,) = (tmp_path / "kfp").rglob("report")
    saved = json.loads(artifact.read_text())
    assert saved["status"] == "ok" and saved["drifted"] == found.drifted and set(saved["features"]) == set(FEATURES)


def test_drift_pipeline_without_enough_requests_gives_no_verdict(champion: str, tracking_uri: str, tmp_path: Path) -> None:
    """Too few logged rows: status not-enough-data, score 0, and the run still succeeds."""
    _log(generate(20, seed=9), tmp_path / "logs")
    found = run_drift(str(tmp_path / "logs"), tracking_uri, tmp_path / "kfp", "models", "fraud", echo=False)
    assert (found.status, found.drift_score, found.drifted) == ("not-enough-data", 0.0, [])


def test_drift_step_reads_the_request_log_from_s3(champion: str, tracking_uri: str, fraud_csv: Path, s3_endpoint: str,
                                                   tmp_path: Path) -> None:
    """In a cluster the log is on S3: the step lists the InferenceService's folder and reads every request object there."""
    import boto3
    from kfp import dsl

    from pipelines.drift.pipeline import DRIFT_METRIC, FEATURE_METRIC, PUSH_JOB, RETRAIN_THRESHOLD, RETRAINING_TAG, detect_drift
    from pipelines.fraud import components
    from pipelines.fraud.contract import as_parameter

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket="mlp-artifacts")
    rows = drifted(pd.read_csv(fraud_csv).sample(n=400, random_state=2))[FEATURES].to_numpy(dtype=float)
    for start in range(0, len(rows), 100):
        record_id = str(uuid.uuid4())
        key = request_log.object_key("inference-logs", "models", "fraud", record_id)
        body = json.dumps(request_log.log_record(_v2(rows[start:start + 100]), record_id, "models", "fraud"))
        client.put_object(Bucket="mlp-artifacts", Key=key, Body=body.encode())
    # Another InferenceService's requests, and a response object, stay out of it.
    client.put_object(Bucket="mlp-artifacts", Key=request_log.object_key("inference-logs", "models", "other", "x"), Body=b"{}")
    client.put_object(Bucket="mlp-artifacts", Key="inference-logs/models/fraud/predictor/requests/y-response.json", Body=b"{}")
    report = dsl.Artifact(uri=str(tmp_path / "report.json"))
    status, score, drifted_names, retrain, _ = detect_drift.python_func(
        log_uri="s3://mlp-artifacts/inference-logs", s3_endpoint_url=s3_endpoint, namespace="models", inference_service="fraud",
        tracking_uri=tracking_uri, model_name=DEFAULT_MODEL_NAME, reference_artifact=components.REFERENCE_ARTIFACT,
        contract=as_parameter(), lookback_hours=1.0, min_rows=200, psi_threshold=0.2, pushgateway_url="",
        drift_metric=DRIFT_METRIC, feature_metric=FEATURE_METRIC, push_job=PUSH_JOB, report=report,
        retrain_threshold=RETRAIN_THRESHOLD, retrain_cooldown_hours=24.0, data_uri="", retraining_tag=RETRAINING_TAG,
    )
    assert status == "ok" and report.metadata["requests"] == 4 and report.metadata["rows"] == 400
    assert retrain == "no"  # no data_uri: this run only measures
    assert {"distance_from_home", "online_order"} <= set(drifted_names.split(","))


def _decide(tracking_uri: str, logs: Path, tmp_path: Path, **retraining: object) -> tuple:
    """The drift step's own function over a local request log, as the pipeline calls it."""
    from kfp import dsl

    from pipelines.drift.pipeline import (
        DRIFT_METRIC,
        FEATURE_METRIC,
        PUSH_JOB,
        RETRAIN_COOLDOWN_HOURS,
        RETRAIN_THRESHOLD,
        RETRAINING_TAG,
        detect_drift,
    )
    from pipelines.fraud import components
    from pipelines.fraud.contract import as_parameter

    report = dsl.Artifact(uri=str(tmp_path / f"report-{uuid.uuid4()}.json"))
    arguments = {"retrain_threshold": RETRAIN_THRESHOLD, "retrain_cooldown_hours": RETRAIN_COOLDOWN_HOURS, "data_uri": "",
                 "retraining_tag": RETRAINING_TAG, **retraining}
    return detect_drift.python_func(
        log_uri=str(logs), s3_endpoint_url="", namespace="models", inference_service="fraud", tracking_uri=tracking_uri,
        model_name=DEFAULT_MODEL_NAME, reference_artifact=components.REFERENCE_ARTIFACT, contract=as_parameter(),
        lookback_hours=1.0, min_rows=200, psi_threshold=0.2, pushgateway_url="", drift_metric=DRIFT_METRIC,
        feature_metric=FEATURE_METRIC, push_job=PUSH_JOB, report=report, **arguments,
    )


def _last_decision(tracking_uri: str, tag: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    run = mlflow.search_runs(experiment_names=[f"{DEFAULT_MODEL_NAME}-drift"], order_by=["attributes.start_time DESC"],
                             max_results=1, output_format="list")[0]
    return run.data.tags[tag]


def test_drift_retrains_at_the_threshold_once_per_cooldown(champion: str, tracking_uri: str, fraud_csv: Path, tmp_path: Path) -> None:
    """Drift above the threshold triggers one retraining; within the cooldown the next is held back; below the
    threshold or without training data nothing is triggered; MLflow records every decision on the drift run."""
    _log(drifted(pd.read_csv(fraud_csv).sample(n=400, random_state=5)), tmp_path / "logs")
    tag = f"retraining-{uuid.uuid4().hex[:8]}"  # this test's own record: the demo's drift run triggered one already
    status, score, _, retrain, trigger = _decide(tracking_uri, tmp_path / "logs", tmp_path, data_uri=str(fraud_csv), retraining_tag=tag)
    assert (status, retrain) == ("ok", "yes") and score > 0.3
    assert trigger.startswith(f"drift {score:.3f} > 0.3 (MLflow run ") and _last_decision(tracking_uri, tag) == "triggered"
    *_, retrain, trigger = _decide(tracking_uri, tmp_path / "logs", tmp_path, data_uri=str(fraud_csv), retraining_tag=tag)
    assert (retrain, trigger) == ("no", "") and _last_decision(tracking_uri, tag) == "cooldown"
    *_, retrain, _ = _decide(tracking_uri, tmp_path / "logs", tmp_path, data_uri=str(fraud_csv), retraining_tag=tag,
                             retrain_cooldown_hours=0.0)
    assert retrain == "yes"  # the cooldown is what held the second one back
    *_, retrain, _ = _decide(tracking_uri, tmp_path / "logs", tmp_path, data_uri=str(fraud_csv), retraining_tag=f"{tag}-b",
                             retrain_threshold=0.99)
    assert retrain == "no" and _last_decision(tracking_uri, f"{tag}-b") == "below-threshold"
    *_, retrain, _ = _decide(tracking_uri, tmp_path / "logs", tmp_path, retraining_tag=f"{tag}-c")
    assert retrain == "no" and _last_decision(tracking_uri, f"{tag}-c") == "disabled"


def test_retraining_threshold_is_the_drift_alerts() -> None:
    """The drift pipeline retrains at the serving chart's ModelDriftHigh threshold (one number for people and for the pipeline)."""
    import yaml

    from pipelines.drift.pipeline import RETRAIN_THRESHOLD

    values = yaml.safe_load((Path(__file__).resolve().parents[2] / "charts" / "model-serving" / "values.yaml").read_text())
    assert values["monitoring"]["alerts"]["driftScore"] == RETRAIN_THRESHOLD
