"""The model-drift pipeline: the served model's recent requests against its champion's training sample.

One step (reading a day of logged requests is cheap; a step's fixed cost is not). It reads the
requests KServe's logger wrote (pipelines/drift/requests.py), the training sample the champion's
training run logged, computes per-feature drift (pipelines/drift/stats.py), records the report in
MLflow (experiment ``<model>-drift``, pipelines/cluster.py; the champion version gets a ``drift_score`` tag) and pushes
``model_drift_score{namespace, model}`` to the Prometheus Pushgateway, which the serving chart's
``ModelDriftHigh`` alert reads. Too few requests, or no champion yet, end the run cleanly with a
one-line status.

Drift retrains: when the score exceeds ``retrain_threshold`` (the alert's own threshold) and no drift has
triggered a retraining within ``retrain_cooldown_hours``, the run goes on into the training pipeline itself
(nested, same step image and credentials) on the latest labelled window at ``data_uri``; the model it
registers carries the trigger in its ``trigger`` tag, and the training gate still decides promotion. It searches
``retrain_param_grid`` (the scheduled training's grid by default; one point, e.g. the champion's parameters, refits
them on the new window without a search). It reads its
rows the way the scheduled training does (``feature_source``, ``feature_store``: the program passes both the same values).
The pipeline launches it, not an Alertmanager webhook: the drift run already holds the score, the champion
and MLflow, the retraining becomes part of its own run graph in KFP (lineage both ways), and no extra
service, credential or network flow is needed. The alert still tells people.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Output

from pipelines.cluster import DRIFT_PIPELINE
from pipelines.drift.metrics import DEFAULT_PSI_THRESHOLD, DRIFT_METRIC, FEATURE_METRIC, PUSH_JOB
from pipelines.features.repo import FEATURE_SOURCES
from pipelines.fraud import components
from pipelines.fraud.pipeline import (
    DEFAULT_CONTRACT,
    DEFAULT_MODEL_NAME,
    DEFAULT_PARAM_GRID,
    fraud_training,
    with_mlflow_credentials,
    with_object_store_credentials,
)

PIPELINE_NAME = DRIFT_PIPELINE
__all__ = ["DRIFT_METRIC", "FEATURE_METRIC", "PUSH_JOB", "detect_drift", "model_drift"]
# The drift score at which the pipeline retrains: the serving chart's ModelDriftHigh threshold
# (monitoring.alerts.driftScore in its values; a test holds the two together).
RETRAIN_THRESHOLD = 0.3
RETRAIN_COOLDOWN_HOURS = 24.0
# The MLflow tag on a drift run that records what it decided about retraining.
RETRAINING_TAG = "retraining"


@components.step
def detect_drift(
    log_uri: str,
    s3_endpoint_url: str,
    namespace: str,
    inference_service: str,
    tracking_uri: str,
    model_name: str,
    reference_artifact: str,
    contract: dict,
    lookback_hours: float,
    min_rows: int,
    psi_threshold: float,
    pushgateway_url: str,
    drift_metric: str,
    feature_metric: str,
    push_job: str,
    retrain_threshold: float,
    retrain_cooldown_hours: float,
    data_uri: str,
    retraining_tag: str,
    report: Output[Artifact],
) -> NamedTuple("Drift", status=str, drift_score=float, drifted=str, retrain=str, trigger=str):
    """Compare the logged requests of the last ``lookback_hours`` with the champion's training sample; decide
    whether to retrain (score above ``retrain_threshold``, training data at ``data_uri``, none in the cooldown)."""
    import json
    import time
    from collections import namedtuple
    from pathlib import Path

    import mlflow
    from mlflow.exceptions import MlflowException

    from pipelines.cluster import drift_experiment
    from pipelines.drift.requests import feature_rows, folder
    from pipelines.drift.stats import feature_drift

    result = namedtuple("Drift", ["status", "drift_score", "drifted", "retrain", "trigger"])
    started = time.time()
    since = started - lookback_hours * 3600
    where = f"{log_uri.rstrip('/')}/{folder('', namespace, inference_service)}/"
    documents = []
    if log_uri.startswith("s3://"):
        import boto3

        bucket, _, prefix = where.removeprefix("s3://").partition("/")
        client = boto3.client("s3", endpoint_url=s3_endpoint_url or None)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith("-request.json") and item["LastModified"].timestamp() >= since:
                    documents.append(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode())
    else:
        local_dir = Path(where.removeprefix("file://"))
        if local_dir.is_dir():
            documents = [p.read_text() for p in sorted(local_dir.glob("*-request.json")) if p.stat().st_mtime >= since]

    features = contract["features"]
    current, skipped = feature_rows(documents, len(features))

    def finish(status: str, message: str, verdict: dict | None = None, trigger: str = "") -> tuple:
        """One line to the log; the status (and the verdict, when there is one) to the report artifact."""
        verdict = verdict or {"drift_score": 0.0, "drifted": []}
        print(f"DRIFT: {message}", flush=True)
        report.metadata.update({"status": status, "message": message, "requests": len(documents), "rows": len(current),
                                "drift_score": verdict["drift_score"], "drifted": verdict["drifted"], "trigger": trigger})
        Path(report.path).write_text(json.dumps({"status": status, "message": message, "trigger": trigger, **verdict}, indent=2) + "\n")
        return result(status, float(verdict["drift_score"]), ",".join(verdict["drifted"]), "yes" if trigger else "no", trigger)

    if len(current) < min_rows:
        return finish("not-enough-data", f"{len(current)} request rows in the last {lookback_hours:g} h at {where} "
                      f"(skipped {skipped}), fewer than {min_rows}: no verdict")
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    try:
        champion = client.get_model_version_by_alias(model_name, "champion")
    except MlflowException:
        return finish("no-champion", f"model {model_name!r} has no champion yet: nothing to compare with")
    import pandas as pd

    sample = mlflow.artifacts.download_artifacts(run_id=champion.run_id, artifact_path=reference_artifact)
    reference = pd.read_csv(sample)[features].to_numpy(dtype=float)
    kinds = [contract["columns"][name]["type"] for name in features]
    verdict = feature_drift(reference, current, features, kinds, psi_threshold)
    verdict.update({"model": model_name, "champion_version": champion.version, "inference_service": inference_service,
                    "namespace": namespace, "window_hours": lookback_hours, "skipped_records": skipped})

    experiment = mlflow.set_experiment(drift_experiment(model_name))
    # Rate limit: a drift run that triggered a retraining within the cooldown holds the next ones back.
    cooldown_start_ms = int((time.time() - retrain_cooldown_hours * 3600) * 1000)
    recent = client.search_runs([experiment.experiment_id], max_results=1,
                                filter_string=f"tags.`{retraining_tag}` = 'triggered' and attributes.start_time >= {cooldown_start_ms}")
    if verdict["drift_score"] <= retrain_threshold:  # the alert fires above it, as here
        retraining = "below-threshold"
    elif not data_uri:
        retraining = "disabled"
    elif recent:
        retraining = "cooldown"
    else:
        retraining = "triggered"
    with mlflow.start_run(run_name=f"drift-v{champion.version}") as run:
        mlflow.set_tag(retraining_tag, retraining)
        mlflow.log_params({"champion_version": champion.version, "window_hours": lookback_hours, "psi_threshold": psi_threshold,
                           "retrain_threshold": retrain_threshold})
        mlflow.log_metrics({"drift_score": verdict["drift_score"], "rows": len(current),
                            **{f"psi_{name}": entry["psi"] for name, entry in verdict["features"].items()}})
        mlflow.log_dict(verdict, "drift_report.json")
    client.set_model_version_tag(model_name, champion.version, "drift_score", f"{verdict['drift_score']:.3f}")

    if pushgateway_url:
        from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

        registry = CollectorRegistry()
        Gauge(drift_metric, "Share of the model's features whose input distribution drifted (PSI)", registry=registry).set(
            verdict["drift_score"])
        psi = Gauge(feature_metric, "PSI of one feature: recent requests vs the champion's training sample", ["feature"],
                    registry=registry)
        for name, entry in verdict["features"].items():
            psi.labels(feature=name).set(entry["psi"])
        from pipelines.drift.metrics import DURATION_METRIC, THRESHOLD_METRIC

        # The threshold the run used, so the dashboards draw each feature's PSI against it; and the step's duration.
        Gauge(THRESHOLD_METRIC, "PSI at or above which a feature counts as drifted", registry=registry).set(psi_threshold)
        Gauge(DURATION_METRIC, "Seconds the drift step took", registry=registry).set(time.time() - started)
        push_to_gateway(pushgateway_url, job=push_job, registry=registry,
                        grouping_key={"namespace": namespace, "model": inference_service})

    summary = ", ".join(f"{n} (PSI {verdict['features'][n]['psi']:.2f})" for n in verdict["drifted"]) or "none"
    print(f"DRIFT REPORT: {json.dumps(verdict)}", flush=True)
    trigger = f"drift {verdict['drift_score']:.3f} > {retrain_threshold:g} (MLflow run {run.info.run_id})" if retraining == "triggered" else ""
    return finish("ok", f"drift score {verdict['drift_score']:.2f} over {len(current)} rows vs champion "
                  f"v{champion.version}; drifted features: {summary}; retraining: {retraining}", verdict, trigger)


@components.step
def retraining_trigger(retrain: str, trigger: str) -> str:
    """The trigger a retraining records, or empty: what the retraining branch's condition reads.

    A step of its own because kfp 2.17's local runner cannot resolve a nested pipeline's condition on an
    output of a multi-output task (it skips the branch with "Could not resolve parent input"); on a
    single output it can, and the cluster runs the same graph.
    """
    return trigger if retrain == "yes" else ""


@dsl.pipeline(name=PIPELINE_NAME, description="Input drift of the served model: its logged requests vs the champion's training data.")
def model_drift(
    log_uri: str,
    tracking_uri: str,
    namespace: str,
    inference_service: str,
    s3_endpoint_url: str = "",
    model_name: str = DEFAULT_MODEL_NAME,
    contract: dict = DEFAULT_CONTRACT,
    lookback_hours: float = 24.0,
    min_rows: int = 200,
    psi_threshold: float = DEFAULT_PSI_THRESHOLD,
    pushgateway_url: str = "",
    data_uri: str = "",
    retrain_threshold: float = RETRAIN_THRESHOLD,
    retrain_cooldown_hours: float = RETRAIN_COOLDOWN_HOURS,
    auc_floor: float = 0.9,
    min_improvement: float = 0.002,
    git_commit: str = "",
    feature_source: str = FEATURE_SOURCES[0],
    feature_store: str = "",
    retrain_param_grid: dict = DEFAULT_PARAM_GRID,
) -> NamedTuple("DriftOutputs", status=str, drift_score=float, drifted=str, trigger=str):
    # The request log is read from S3 (MinIO's keys on the local stack), the reference from MLflow.
    checked = with_object_store_credentials(with_mlflow_credentials(
        detect_drift(
            log_uri=log_uri, s3_endpoint_url=s3_endpoint_url, namespace=namespace, inference_service=inference_service,
            tracking_uri=tracking_uri, model_name=model_name, reference_artifact=components.REFERENCE_ARTIFACT,
            contract=contract, lookback_hours=lookback_hours, min_rows=min_rows, psi_threshold=psi_threshold,
            pushgateway_url=pushgateway_url, drift_metric=DRIFT_METRIC, feature_metric=FEATURE_METRIC, push_job=PUSH_JOB,
            retrain_threshold=retrain_threshold, retrain_cooldown_hours=retrain_cooldown_hours,
            data_uri=data_uri, retraining_tag=RETRAINING_TAG,
        )
    ))
    # Retraining without data_uri (a run that only measures) is never decided ("disabled" above).
    decided = retraining_trigger(retrain=checked.outputs["retrain"], trigger=checked.outputs["trigger"])
    with dsl.If(decided.output != "", name="drift-retraining"):
        fraud_training(
            data_uri=data_uri, tracking_uri=tracking_uri, s3_endpoint_url=s3_endpoint_url, model_name=model_name,
            run_name="drift-retraining", contract=contract, auc_floor=auc_floor, min_improvement=min_improvement,
            git_commit=git_commit, trigger=decided.output, feature_source=feature_source, feature_store=feature_store,
            param_grid=retrain_param_grid,
        )
    outputs = NamedTuple("DriftOutputs", status=str, drift_score=float, drifted=str, trigger=str)  # noqa: UP014 - as in the signature
    return outputs(status=checked.outputs["status"], drift_score=checked.outputs["drift_score"], drifted=checked.outputs["drifted"],
                   trigger=checked.outputs["trigger"])
