"""The fraud training pipeline's steps, one KFP component each (no postponed annotations: KFP reads them): ingest,
validate and train here, evaluate and register in pipelines/fraud/mlflow_steps.py.

Every step runs in the pipeline step image (pipelines/image.py, pipelines/Dockerfile), which holds
the locked dependencies and this project's ``pipelines`` package: nothing is installed at run time,
and a step imports only what it needs, inside its body. Locally, ``kfp.local`` runs the same
functions in subprocesses of the ML environment (pipelines/run.py puts the project on PYTHONPATH).
Lineage goes into the artifacts' metadata; metrics go to KFP and to MLflow.
"""

import functools
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from pipelines.image import COMPILED_IMAGE

# One image for every step, pinned by digest per environment when the program deploys the pipeline.
step = functools.partial(dsl.component, base_image=COMPILED_IMAGE, install_kfp_package=False)

# Where the training step logs a sample of its training features: the drift job's reference.
REFERENCE_ARTIFACT = "drift_reference/train_features.csv"
REFERENCE_ROWS = 5000
# The grid search's bound: at most this many training rows (a stratified sample) are cross-validated per
# candidate; the chosen parameters then fit all rows once. Below it (the demo's 20k rows) the search sees them all.
SEARCH_ROWS = 50_000


@step
def ingest(data_uri: str, s3_endpoint_url: str, raw: Output[Dataset], feature_source: str = "file"
           ) -> NamedTuple("Ingested", status=str, rows=int, sha256=str):
    """Read the data from s3:// (boto3; endpoint configurable for MinIO) or a local path; record rows and hash.

    No file yet at ``data_uri`` is not a failure: status "missing" and a "NO DATA YET" line, so a
    scheduled run before the first data lands ends cleanly (the pipeline skips training). The first step, so it
    refuses an unknown ``feature_source`` (the pipeline's branches would take the file one for any value but feast).
    """
    import hashlib
    from collections import namedtuple
    from pathlib import Path

    from pipelines.features.repo import check_feature_source
    from pipelines.fraud.frames import report_peak_rss

    check_feature_source(feature_source)
    result = namedtuple("Ingested", ["status", "rows", "sha256"])
    # Copied in chunks (the file can be larger than a step's memory), hashed and its lines counted on the way.
    chunk_size = 16 << 20

    def file_chunks(path):
        with path.open("rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    if data_uri.startswith("s3://"):
        import boto3
        from botocore.exceptions import ClientError

        bucket, _, key = data_uri.removeprefix("s3://").partition("/")
        client = boto3.client("s3", endpoint_url=s3_endpoint_url or None)
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            body = None
        chunks = body.iter_chunks(chunk_size) if body is not None else None
    else:
        path = Path(data_uri.removeprefix("file://"))
        chunks = file_chunks(path) if path.is_file() else None
    if chunks is None:
        print(f"NO DATA YET: nothing at {data_uri}; put the training CSV there and the next run trains", flush=True)
        Path(raw.path).write_bytes(b"")
        raw.metadata.update({"source": data_uri, "status": "missing"})
        return result("missing", 0, "")
    digest, newlines, empty, tail, last = hashlib.sha256(), 0, 0, b"\n\n", b"\n"
    with open(raw.path, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
            digest.update(chunk)
            window = tail + chunk  # the previous chunk's last two bytes: an empty line across the boundary counts once
            newlines += chunk.count(b"\n")
            empty += window[1:].count(b"\n\n") + window.count(b"\n\r\n")
            tail, last = window[-2:], chunk[-1:] or last
    # Rows: non-empty lines after the header (a last line without a newline counts).
    rows = max(newlines + (last != b"\n") - empty - 1, 0)
    raw.metadata.update({"source": data_uri, "sha256": digest.hexdigest(), "rows": rows, "status": "ready"})
    report_peak_rss("ingest")
    return result("ready", rows, digest.hexdigest())


@step
def no_data(data_uri: str) -> NamedTuple("Skipped", decision=str, version=str, storage_uri=str):
    """The branch taken when there is no data yet: says so and ends the run successfully."""
    from collections import namedtuple

    print(f"SKIPPED: no training data at {data_uri} yet; nothing trained or registered", flush=True)
    return namedtuple("Skipped", ["decision", "version", "storage_uri"])("no-data", "", "")


@step
def validate(
    raw: Input[Dataset],
    contract: dict,
    min_rows: int,
    min_positives: int,
    max_null_fraction: float,
    test_fraction: float,
    seed: int,
    train: Output[Dataset],
    test: Output[Dataset],
):
    """Check the data against the contract (pipelines/fraud/contract.py), then split it: stratified train / held-out
    test with a fixed seed. A contract failure stops the pipeline with a one-line reason.

    One step, not two: each step is a process that imports pandas and scikit-learn first. The file is read
    column-wise (:func:`pipelines.fraud.contract.load`); the two parts are Parquet (pipelines/fraud/frames.py).
    """
    from sklearn.model_selection import train_test_split

    from pipelines.fraud import frames
    from pipelines.fraud.contract import ContractError, load

    try:
        frame, notes = load(raw.path, contract, min_rows, min_positives, max_null_fraction)
    except ContractError as error:
        print(f"DATA VALIDATION FAILED: {error}", flush=True)
        raise ValueError(f"data validation failed: {error}") from None
    for note in notes:
        print(f"DATA NOTE: {note}", flush=True)
    label = contract["label"]
    train_frame, test_frame = train_test_split(frame, test_size=test_fraction, stratify=frame[label], random_state=seed)
    # Lineage of rows read through the feature store (the training-set step's): on to register's tags.
    lineage = {key: raw.metadata[key] for key in ("feature_source", "feature_views") if key in raw.metadata}
    del frame
    for artifact, part in ((train, train_frame), (test, test_frame)):
        frames.write(part, artifact.path)
        positives = int((part[label] == 1).sum())
        artifact.metadata.update({"rows": len(part), "positives": positives, "positive_rate": positives / len(part),
                                  "seed": seed, "notes": notes, **lineage})
    frames.report_peak_rss("validate")


@step
def train(
    train_data: Input[Dataset],
    contract: dict,
    param_grid: dict,
    seed: int,
    reference_rows: int,
    search_rows: int,
    model: Output[Model],
    reference: Output[Dataset],
    estimator: str = "hist-gradient-boosting",
) -> NamedTuple("Trained", threshold=float, cv_roc_auc=float, calibration_f1=float, best_params=str, grid_size=int, train_rows=int):
    """Grid-search a preprocessing + gradient-boosting Pipeline; pick the F1-best threshold on a calibration slice.

    The search cross-validates on at most ``search_rows`` of the fitting rows (a stratified sample; all of them
    below that), the threshold comes from its best model on the calibration slice, and the chosen parameters
    fit all training rows once (HistGradientBoosting stops early on a validation split above 10k rows).

    ``estimator`` (pipelines/fraud/estimators.py): scikit-learn's HistGradientBoostingClassifier, or XGBoost,
    which fits on the GPU when the step has one (the pipeline's GPU option) and on the CPU otherwise.

    No MLflow here (a step is a process, and importing MLflow is its largest fixed cost): evaluate
    records the run, with what this step returns and ``reference``, a sample of the training
    features (the drift job's reference).
    """
    import json
    import os
    from collections import namedtuple

    from pipelines.fraud.estimators import OPENMP_ENV

    # Before scikit-learn loads OpenMP, which reads it then.
    for name, value in OPENMP_ENV.items():
        os.environ.setdefault(name, value)
    import joblib
    import numpy as np
    import sklearn
    from joblib import cpu_count
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import precision_recall_curve
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from threadpoolctl import threadpool_limits

    from pipelines.fraud import frames
    from pipelines.fraud.estimators import classifier as build_classifier
    from pipelines.fraud.estimators import framework as framework_of

    label, order = contract["label"], contract["features"]
    # Columns by position, so the served model takes a plain [n, features] V2
    # tensor as well as a DataFrame in contract order.
    numeric = [i for i, n in enumerate(order) if contract["columns"][n]["type"] == "float"]
    binary = [i for i, n in enumerate(order) if contract["columns"][n]["type"] == "binary"]
    frame = frames.read(train_data.path, columns=[*order, label])
    features, target = frame[order], frame[label]

    preprocessing = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median")),
                        ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
                        ("scale", StandardScaler()),
                    ]
                ),
                numeric,
            ),
            ("binary", SimpleImputer(strategy="most_frequent"), binary),
        ]
    )
    classifier = build_classifier(estimator, seed, cpu_count())
    pipeline = Pipeline([("features", preprocessing), ("classifier", classifier)])
    # Pipeline parameters travel as protobuf Structs, where every number is a float.
    grid = {
        f"classifier__{key}": [int(v) if isinstance(v, float) and v.is_integer() else v for v in values]
        for key, values in param_grid.items()
    }

    fit_x, calibration_x, fit_y, calibration_y = train_test_split(
        features, target, test_size=0.2, stratify=target, random_state=seed
    )
    if len(fit_x) > search_rows:
        fit_x, _, fit_y, _ = train_test_split(fit_x, fit_y, train_size=search_rows, stratify=fit_y, random_state=seed)
    # One process. The search's small fits take one OpenMP thread each, one after the other: at 16k rows, 2 OpenMP
    # threads or 2 fits side by side in threads cost twice the CPU (3.2 s vs 6.5 and 7.6) for no gain in wall time
    # on 2 cores, and worker processes would each import scikit-learn again. The large fits use the CPUs this step
    # may use (joblib reads the container's CPU quota; OpenMP alone would take the node's cores).
    with threadpool_limits(limits=1):
        search = GridSearchCV(pipeline, grid, scoring="roc_auc", cv=StratifiedKFold(3, shuffle=True, random_state=seed), n_jobs=1)
        search.fit(fit_x, fit_y)
    with threadpool_limits(limits=cpu_count()):
        precision, recall, thresholds = precision_recall_curve(calibration_y, search.best_estimator_.predict_proba(calibration_x)[:, 1])
        f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
        best = int(np.argmax(f1[:-1]))
        threshold = float(thresholds[best])
        final = sklearn.base.clone(search.best_estimator_).fit(features, target)
    joblib.dump(final, model.path)
    framework, framework_version = framework_of(estimator)
    model.metadata.update(
        {
            "estimator": estimator,
            "device": classifier.get_params().get("device", "cpu"),
            "framework": framework,
            "framework_version": framework_version,
            "threshold": threshold,
            "best_params": json.dumps(search.best_params_),
            "search_rows": len(fit_x),
            "features": order,
        }
    )

    features.sample(n=min(len(features), reference_rows), random_state=seed).to_csv(reference.path, index=False)
    best_params = {k.removeprefix("classifier__"): v for k, v in search.best_params_.items()}
    frames.report_peak_rss("train")
    return namedtuple("Trained", ["threshold", "cv_roc_auc", "calibration_f1", "best_params", "grid_size", "train_rows"])(
        threshold, float(search.best_score_), float(f1[best]), json.dumps(best_params), len(search.cv_results_["params"]), len(frame)
    )
