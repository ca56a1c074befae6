"""The training pipeline's two MLflow steps: evaluate (record the run, score the held-out split, gate) and register
(log, register and alias the model). KFP components like pipelines/fraud/components.py's (no postponed annotations:
KFP reads them), in the same step image, each importing what it needs inside its body.
"""

from typing import NamedTuple

from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from pipelines.fraud.components import step


@step
def evaluate(
    model: Input[Model],
    test_data: Input[Dataset],
    reference: Input[Dataset],
    contract: dict,
    threshold: float,
    cv_roc_auc: float,
    calibration_f1: float,
    best_params: str,
    grid_size: int,
    train_rows: int,
    seed: int,
    param_grid: dict,
    tracking_uri: str,
    experiment: str,
    run_name: str,
    reference_artifact: str,
    model_name: str,
    min_improvement: float,
    auc_floor: float,
    max_p95_latency_ms: float,
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    report: Output[Artifact],
) -> NamedTuple("Evaluated", run_id=str, roc_auc=float, pr_auc=float, p95_latency_ms=float, decision=str):
    """Record the candidate in MLflow (train's parameters and scores, the drift reference), score the held-out
    split only (AUCs, threshold metrics, confusion matrix, single-row p95 latency, curves), then gate:
    floors first, then the champion re-scored on the same held-out rows.

    ``decision`` is "promote" or "reject" (a single output, so the pipeline can branch on it); the
    reason and the champion's score go into the report's metadata. One step, not two: each step is
    a process that imports MLflow and scikit-learn first, and both halves read the same rows.
    """
    import json
    import tempfile
    from collections import namedtuple
    from pathlib import Path

    import joblib
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    import numpy as np
    from mlflow.exceptions import MlflowException
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        f1_score,
        precision_recall_curve,
        precision_score,
        recall_score,
        roc_auc_score,
        roc_curve,
    )

    from pipelines.fraud import frames
    from pipelines.fraud.latency import p95_single_row_ms
    from pipelines.mlflow_server import wait_for_tracking_server

    estimator = joblib.load(model.path)
    frame = frames.read(test_data.path, columns=[*contract["features"], contract["label"]])
    features, target = frame[contract["features"]], frame[contract["label"]]
    scores = estimator.predict_proba(features)[:, 1]
    predicted = (scores >= threshold).astype(int)
    results = {
        "test_roc_auc": float(roc_auc_score(target, scores)),
        "test_pr_auc": float(average_precision_score(target, scores)),
        "test_precision": float(precision_score(target, predicted, zero_division=0)),
        "test_recall": float(recall_score(target, predicted, zero_division=0)),
        "test_f1": float(f1_score(target, predicted, zero_division=0)),
    }
    # Single-row latency as served, in CPU time (a busy machine does not change the verdict).
    results["p95_latency_ms"] = p95_single_row_ms(estimator, features.head(100))
    matrix = confusion_matrix(target, predicted, labels=[0, 1])

    for key, value in results.items():
        metrics.log_metric(key, value)
    fpr, tpr, roc_thresholds = roc_curve(target, scores)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
    classification.log_roc_curve(
        fpr[keep].tolist(), tpr[keep].tolist(), np.nan_to_num(roc_thresholds[keep], posinf=1.0).tolist()
    )
    classification.log_confusion_matrix(["legitimate", "fraud"], matrix.tolist())

    wait_for_tracking_server(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params({**json.loads(best_params), "seed": seed, "grid_size": grid_size, "train_rows": train_rows})
        mlflow.log_metrics({"cv_roc_auc": cv_roc_auc, "calibration_f1": calibration_f1, "threshold": threshold})
        mlflow.set_tags({"mlplatform.step": "evaluate", "mlplatform.param_grid": json.dumps(param_grid)})
        # The drift job compares served requests with this sample of what the model was trained on.
        with tempfile.TemporaryDirectory() as tmp:
            sample = Path(tmp) / Path(reference_artifact).name
            sample.write_bytes(Path(reference.path).read_bytes())
            mlflow.log_artifact(str(sample), str(Path(reference_artifact).parent))
        mlflow.log_metrics(results)
        mlflow.log_dict({"labels": ["legitimate", "fraud"], "matrix": matrix.tolist()}, "evaluation/confusion_matrix.json")
        precision, recall, _ = precision_recall_curve(target, scores)
        # The plots draw at most 1000 points a curve (the held-out split can have millions).
        pr_keep = np.unique(np.linspace(0, len(recall) - 1, min(len(recall), 1000)).astype(int))
        roc_keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 1000)).astype(int))
        for name, (x, y, x_label, y_label) in {
            "roc_curve": (fpr[roc_keep], tpr[roc_keep], "false positive rate", "true positive rate"),
            "pr_curve": (recall[pr_keep], precision[pr_keep], "recall", "precision"),
        }.items():
            figure, axes = plt.subplots(figsize=(5, 4))
            axes.plot(x, y)
            axes.set(xlabel=x_label, ylabel=y_label, title=f"{name.replace('_', ' ')} (held-out)")
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{name}.png"
                figure.savefig(path, dpi=80)
                mlflow.log_artifact(str(path), "evaluation")
            plt.close(figure)

    # The gate.
    roc_auc, p95_latency_ms = results["test_roc_auc"], results["p95_latency_ms"]
    failures = []
    if roc_auc < auc_floor:
        failures.append(f"ROC AUC {roc_auc:.4f} is below the floor {auc_floor:.4f}")
    if p95_latency_ms > max_p95_latency_ms:
        failures.append(f"p95 latency {p95_latency_ms:.2f} ms is above the ceiling {max_p95_latency_ms:.2f} ms")
    client = mlflow.MlflowClient()
    try:
        champion = client.get_model_version_by_alias(model_name, "champion")
    except MlflowException:
        champion = None
    champion_auc = -1.0
    if champion is not None:
        import mlflow.sklearn

        champion_model = mlflow.sklearn.load_model(f"models:/{model_name}/{champion.version}")
        champion_auc = float(roc_auc_score(target, champion_model.predict_proba(features)[:, 1]))
        if roc_auc < champion_auc + min_improvement:
            failures.append(
                f"ROC AUC {roc_auc:.4f} does not beat champion v{champion.version} ({champion_auc:.4f}) "
                f"by the required {min_improvement:.4f}"
            )
    if failures:
        reason = "rejected: " + "; ".join(failures)
    elif champion is None:
        reason = f"promoted: no champion yet and the floors hold (ROC AUC {roc_auc:.4f}, p95 {p95_latency_ms:.2f} ms)"
    else:
        reason = f"promoted: ROC AUC {roc_auc:.4f} beats champion v{champion.version} ({champion_auc:.4f}) by {roc_auc - champion_auc:.4f}"
    print(f"GATE: {reason}", flush=True)
    decision = "reject" if failures else "promote"
    report.metadata.update(
        {"decision": decision, "reason": reason, "challenger_roc_auc": roc_auc, "champion_roc_auc": champion_auc}
    )
    with open(report.path, "w") as handle:
        handle.write(reason + "\n")
    frames.report_peak_rss("evaluate")
    return namedtuple("Evaluated", ["run_id", "roc_auc", "pr_auc", "p95_latency_ms", "decision"])(
        run.info.run_id, roc_auc, results["test_pr_auc"], p95_latency_ms, decision
    )


@step
def register(
    model: Input[Model],
    test_data: Input[Dataset],
    contract: dict,
    tracking_uri: str,
    run_id: str,
    model_name: str,
    data_sha256: str,
    git_commit: str,
    pipeline_run: str,
    gate_report: Input[Artifact],
    threshold: float,
    serving_runtime: str,
    decision: str,
    trigger: str = "schedule",
    serving_image: str = "",
) -> NamedTuple("Registered", version=str, storage_uri=str):
    """Log the model with signature, input example and its serving runtime; register it with lineage tags, alias it
    challenger, and move the champion alias to it when the gate's ``decision`` is "promote".

    ``serving_runtime`` is the source of pipelines/serving_runtime.py (compiled into the
    pipeline): it lands in the model's code/ folder, where the serving side loads it from, with its
    settings beside it (``serving_runtime.json``): the contract's features and label, and ``threshold``,
    the decision threshold the served model applies.
    ``serving_image`` is the content tag of the model server image built from the lock this step's
    packages come from (pipelines/serving_image.py): the version's tag says which image serves it.
    """
    import json
    import tempfile
    from collections import namedtuple
    from importlib import metadata
    from pathlib import Path

    import joblib
    import mlflow
    from mlflow.models import infer_signature

    from pipelines.features.repo import lineage_tags
    from pipelines.fraud import frames
    from pipelines.serving_image import MODEL_TAG

    # What loading and scoring the pickled pipeline needs.
    SERVING_REQUIREMENTS = ("mlflow", "scikit-learn", "numpy", "scipy", "pandas", "joblib")

    estimator = joblib.load(model.path)
    # An XGBoost model (the GPU option) needs its package to unpickle, at the version that trained it.
    requirements = SERVING_REQUIREMENTS + (("xgboost",) if model.metadata.get("framework") == "xgboost" else ())
    example = frames.head(test_data.path, 5, contract["features"])
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    with mlflow.start_run(run_id=run_id), tempfile.TemporaryDirectory() as tmp:
        runtime = Path(tmp) / "serving_runtime.py"
        runtime.write_text(serving_runtime)
        settings = runtime.with_suffix(".json")
        settings.write_text(json.dumps({"threshold": threshold, "features": contract["features"], "label": contract["label"]}))
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(example, estimator.predict(example)),
            input_example=example,
            registered_model_name=model_name,
            # model.pkl (plain pickle) is what KServe's sklearn runtimes load; the
            # artifacts come only from the platform's own registry bucket.
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
            code_paths=[str(runtime), str(settings)],
            # The exact versions that trained it (the step image's lock): no import-tracing
            # subprocess to infer them (3 s per run), and nothing left unpinned.
            pip_requirements=[f"{name}=={metadata.version(name)}" for name in requirements],
        )
    version = str(info.registered_model_version)
    tags = {
        "data_sha256": data_sha256,
        "git_commit": git_commit or "unknown",
        "pipeline_run": pipeline_run,
        "mlflow_run_id": run_id,
        "gate": gate_report.metadata["reason"],
        "threshold": f"{threshold:.6f}",
        # Which estimator, and where it was fitted (cuda on a GPU node).
        "estimator": model.metadata.get("estimator", "hist-gradient-boosting"),
        "device": model.metadata.get("device", "cpu"),
        # What started the run: its schedule, a person, or drift (the drift run's score and MLflow run).
        "trigger": trigger,
        MODEL_TAG: serving_image or "unknown",
        # The feature views (and their versions) the training rows were read through (validate's split metadata).
        **lineage_tags(test_data.metadata.get("feature_views", {}), test_data.metadata.get("feature_source", "file")),
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    client.set_registered_model_alias(model_name, "challenger", version)
    storage_uri = client.get_model_version_download_uri(model_name, version)
    print(f"REGISTERED: {model_name} v{version} at {storage_uri}", flush=True)
    if decision == "promote":
        client.set_registered_model_alias(model_name, "champion", version)
        client.set_model_version_tag(model_name, version, "promoted", "true")
        print(f"CHAMPION: {model_name} v{version}", flush=True)
    frames.report_peak_rss("register")
    return namedtuple("Registered", ["version", "storage_uri"])(version, storage_uri)
