"""The fraud-detection training pipeline: ingest -> validate (and split) -> train -> evaluate (and gate) -> register (and promote).

When there is no data at ``data_uri`` yet (a new environment's first scheduled run), ingest says
"NO DATA YET" and the run ends successfully through the ``no-data`` branch.

``feature_source`` says where the training rows come from: "file" (the default), ``data_uri`` is the contract's CSV;
"feast", ``data_uri`` holds raw transactions (``python -m pipelines.fraud.data --raw``) and the ``training-set`` step
(features image) reads the training rows through the feature store, point-in-time with ``get_historical_features``,
from the stack's ``feature_store`` (its feature_store.yaml, which the program passes); after register, ``materialize``
loads the newest aggregates into the stack's online store, and the version is tagged with the feature views and their
versions (pipelines/fraud/feature_steps.py).

``estimator`` picks the train step's estimator (pipelines/fraud/estimators.py). The GPU option is the same
pipeline compiled as :data:`GPU_PIPELINE_NAME`: XGBoost by default, its train step requesting one
``nvidia.com/gpu`` on the GPU node groups (:func:`on_gpu_nodes`); every other step stays on the CPU nodes.
"""

from pathlib import Path
from typing import NamedTuple

from kfp import dsl, kubernetes

from infra import gpu
from pipelines import serving_image
from pipelines.cluster import (
    MLFLOW_CREDENTIALS_ENV,
    MLFLOW_CREDENTIALS_SECRET,
    MODEL_NAME,
    OBJECT_STORE_CREDENTIALS_ENV,
    OBJECT_STORE_CREDENTIALS_SECRET,
    TRAINING_EXPERIMENT,
    TRAINING_PIPELINE,
)
from pipelines.features.repo import FEATURE_SOURCES
from pipelines.fraud import components, estimators, feature_steps, mlflow_steps
from pipelines.fraud.contract import as_parameter

PIPELINE_NAME = TRAINING_PIPELINE
DEFAULT_MODEL_NAME = MODEL_NAME
DEFAULT_CONTRACT = as_parameter()
# The serving runtime the register step puts into every model (pipelines/cluster.py).
SERVING_RUNTIME_SOURCE = (Path(__file__).resolve().parents[1] / "serving_runtime.py").read_text()
DEFAULT_PARAM_GRID = {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31], "max_iter": [150]}
# The GPU option as its own pipeline: the same steps, its train step on the GPU groups, XGBoost by default.
GPU_PIPELINE_NAME = f"{TRAINING_PIPELINE}-gpu"


def with_mlflow_credentials(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Give a step that calls MLflow the pipeline user's credentials (basic auth), when the Secret exists.

    Optional: stacks without MLflow auth have no such Secret, and the step then runs without them.
    """
    kubernetes.use_secret_as_env(
        task, secret_name=MLFLOW_CREDENTIALS_SECRET, secret_key_to_env=MLFLOW_CREDENTIALS_ENV, optional=True
    )
    return task


def with_object_store_credentials(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Give a step that calls S3 itself (boto3, Feast) the object store's keys, when the Secret exists.

    Only the local stack's MinIO has keys (a Secret in the steps' namespace); on S3 stacks there is no such Secret
    and the step uses its IRSA role, as before.
    """
    kubernetes.use_secret_as_env(
        task, secret_name=OBJECT_STORE_CREDENTIALS_SECRET, secret_key_to_env=OBJECT_STORE_CREDENTIALS_ENV, optional=True
    )
    return task


def on_gpu_nodes(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Give a step one NVIDIA GPU, the GPU taint's toleration and the GPU groups' node selector.

    Argo v4.0.5 gives every step pod workflowDefaults' nodeSelector (role cpu, the KFP base overlay), then
    applies KFP's pod-spec patch (the driver's nodeSelector, tolerations, GPU limit) as a strategic merge:
    maps merge key by key, so the step names the role key itself and its value wins (infra/gpu.py).
    """
    task.set_accelerator_type(gpu.RESOURCE).set_accelerator_limit(1)
    toleration = gpu.toleration()
    kubernetes.add_toleration(task, key=toleration["key"], operator=toleration["operator"], effect=toleration["effect"])
    for label, value in gpu.step_node_selector().items():
        kubernetes.add_node_selector(task, label_key=label, label_value=value)
    return task


def _training(name: str, gpu_step: bool, default_estimator: str, default_grid: dict):
    """The training pipeline named ``name``; with ``gpu_step`` its train step runs on the GPU groups (:func:`on_gpu_nodes`)."""

    @dsl.pipeline(name=name, description="Train, evaluate and gate a card-fraud classifier; register it in MLflow.")
    def training(
        data_uri: str,
        tracking_uri: str,
        s3_endpoint_url: str = "",
        experiment: str = TRAINING_EXPERIMENT,
        model_name: str = DEFAULT_MODEL_NAME,
        run_name: str = "fraud-training",
        contract: dict = DEFAULT_CONTRACT,
        min_rows: int = 1000,
        min_positives: int = 20,
        max_null_fraction: float = 0.0,
        test_fraction: float = 0.2,
        seed: int = 42,
        param_grid: dict = default_grid,
        estimator: str = default_estimator,
        min_improvement: float = 0.002,
        auc_floor: float = 0.9,
        max_p95_latency_ms: float = 50.0,
        git_commit: str = "",
        trigger: str = "schedule",
        feature_source: str = FEATURE_SOURCES[0],
        feature_store: str = "",
    ) -> NamedTuple("TrainingOutputs", decision=str, version=str, storage_uri=str):
        def validated_and_trained(rows):
            """validate (and split), train, evaluate (and gate), register: the same steps whichever the rows' source."""
            checked = components.validate(raw=rows, contract=contract, min_rows=min_rows, min_positives=min_positives,
                                          max_null_fraction=max_null_fraction, test_fraction=test_fraction, seed=seed)
            trained = components.train(
                train_data=checked.outputs["train"],
                contract=contract,
                param_grid=param_grid,
                seed=seed,
                reference_rows=components.REFERENCE_ROWS,
                search_rows=components.SEARCH_ROWS,
                estimator=estimator,
            )
            if gpu_step:
                on_gpu_nodes(trained)
            evaluated = with_mlflow_credentials(
                mlflow_steps.evaluate(
                    model=trained.outputs["model"],
                    test_data=checked.outputs["test"],
                    reference=trained.outputs["reference"],
                    contract=contract,
                    threshold=trained.outputs["threshold"],
                    cv_roc_auc=trained.outputs["cv_roc_auc"],
                    calibration_f1=trained.outputs["calibration_f1"],
                    best_params=trained.outputs["best_params"],
                    grid_size=trained.outputs["grid_size"],
                    train_rows=trained.outputs["train_rows"],
                    seed=seed,
                    param_grid=param_grid,
                    tracking_uri=tracking_uri,
                    experiment=experiment,
                    run_name=run_name,
                    reference_artifact=components.REFERENCE_ARTIFACT,
                    model_name=model_name,
                    min_improvement=min_improvement,
                    auc_floor=auc_floor,
                    max_p95_latency_ms=max_p95_latency_ms,
                )
            )
            registered = with_mlflow_credentials(
                mlflow_steps.register(
                    model=trained.outputs["model"],
                    test_data=checked.outputs["test"],
                    contract=contract,
                    tracking_uri=tracking_uri,
                    run_id=evaluated.outputs["run_id"],
                    model_name=model_name,
                    data_sha256=ingested.outputs["sha256"],
                    git_commit=git_commit,
                    pipeline_run=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                    gate_report=evaluated.outputs["report"],
                    threshold=trained.outputs["threshold"],
                    serving_runtime=SERVING_RUNTIME_SOURCE,
                    decision=evaluated.outputs["decision"],
                    trigger=trigger,
                    # The model server image this checkout builds (serving/Dockerfile): compiled in, like the runtime.
                    serving_image=serving_image.content_tag(),
                )
            )
            return evaluated, registered

        ingested = with_object_store_credentials(
            components.ingest(data_uri=data_uri, s3_endpoint_url=s3_endpoint_url, feature_source=feature_source)
        )
        # One flat If/Elif/Else (not a branch on the source inside data-found): its branches' outputs meet in dsl.OneOf
        # as parameters, which kfp.local resolves too (it does not resolve an artifact's dsl.OneOf).
        with dsl.If(ingested.outputs["status"] != "ready", name="no-data"):
            skipped = components.no_data(data_uri=data_uri)
        # The file branch first, so that the default path's steps keep their plain names (validate, train, ...; the
        # feast branch's are validate-2, ...); ingest has refused any other feature_source already.
        with dsl.Elif(feature_source == "file", name="from-file"):
            evaluated, registered = validated_and_trained(ingested.outputs["raw"])
        with dsl.Else(name="through-feast"):
            joined = with_object_store_credentials(feature_steps.as_feature_writer(feature_steps.training_set(
                raw=ingested.outputs["raw"], feature_store=feature_store, s3_endpoint_url=s3_endpoint_url)))
            feast_evaluated, feast_registered = validated_and_trained(joined.outputs["dataset"])
            # The online store follows the aggregates the training set was just built from, whatever the gate said:
            # the champion reads it too, and must not wait for a challenger to win to see new transactions.
            with_object_store_credentials(feature_steps.as_feature_writer(
                feature_steps.materialize(feature_store=feature_store, s3_endpoint_url=s3_endpoint_url)
            )).after(feast_registered)
        outputs = NamedTuple("TrainingOutputs", decision=str, version=str, storage_uri=str)  # noqa: UP014 - as in the signature
        return outputs(
            decision=dsl.OneOf(skipped.outputs["decision"], evaluated.outputs["decision"], feast_evaluated.outputs["decision"]),
            version=dsl.OneOf(skipped.outputs["version"], registered.outputs["version"], feast_registered.outputs["version"]),
            storage_uri=dsl.OneOf(skipped.outputs["storage_uri"], registered.outputs["storage_uri"],
                                  feast_registered.outputs["storage_uri"]),
        )

    return training


fraud_training = _training(PIPELINE_NAME, False, estimators.DEFAULT, DEFAULT_PARAM_GRID)
# estimator xgboost on one GPU (device cuda); the same pipeline parameters as the default one.
fraud_training_gpu = _training(GPU_PIPELINE_NAME, True, estimators.GPU, estimators.XGBOOST_PARAM_GRID)
