"""What the platform and the pipelines agree on. No dependencies: the program (infra/), the
pipeline and the serving chart's values all read it.

- The Secret with the MLflow credentials that pipeline steps send: the program creates it in
  each client namespace (infra/components/mlflow_server.py) and the compiled pipeline reads it
  into MLflow's client env vars (pipelines/fraud/pipeline.py).
- The serving runtime that travels with every registered model: the pipeline logs
  ``pipelines/serving_runtime.py`` into the model's ``code/`` folder (MLflow ``code_paths``), and
  the serving values point MLServer at it (infra/components/model_serving.py).
"""

# The pipelines as KFP knows them (the program uploads and schedules them by these names).
TRAINING_PIPELINE = "fraud-detection-training"
DRIFT_PIPELINE = "model-drift"

# The served models' request log: KServe's logger writes each request under this prefix of the
# artifacts bucket, in its storage path; the drift pipeline reads it back (pipelines/drift/).
REQUEST_LOG_PREFIX = "inference-logs"
# What the pipelines write in MLflow: the training pipeline's experiment and registered model, and the drift
# pipeline's experiment. The pipeline user is granted exactly these (pipelines/mlflow_users.py).
TRAINING_EXPERIMENT = "fraud-detection"
MODEL_NAME = "fraud-detector"


def drift_experiment(model_name: str) -> str:
    """The experiment the drift pipeline logs a model's drift runs in."""
    return f"{model_name}-drift"


# Where MLflow keeps runs and models in the artifacts bucket: its server's --artifacts-destination is
# s3://<bucket>/mlflow, so an mlflow-artifacts:/<path> URI is s3://<bucket>/mlflow/<path>.
MLFLOW_ARTIFACTS_PREFIX = "mlflow"


def served_uri(artifacts_bucket: str, download_uri: str) -> str:
    """The s3:// URI KServe loads a registered model from, given its MLflow download URI (``mlflow-artifacts:/...``)."""
    path = download_uri.removeprefix("mlflow-artifacts:")
    if path == download_uri:
        raise ValueError(f"{download_uri!r} is not an mlflow-artifacts: URI (is the server run with --serve-artifacts?)")
    return f"s3://{artifacts_bucket}/{MLFLOW_ARTIFACTS_PREFIX}/{path.lstrip('/')}"
REQUEST_LOG_STORE_PATH = "requests"

# The Secret with the pipeline user's MLflow credentials (pipelines/mlflow_users.py), in each namespace whose
# steps call MLflow; the compiled pipelines read it into MLflow's client env vars.
MLFLOW_CREDENTIALS_SECRET = "mlflow-credentials"
# Secret key -> the env var the MLflow client reads for basic auth.
MLFLOW_CREDENTIALS_ENV = {"username": "MLFLOW_TRACKING_USERNAME", "password": "MLFLOW_TRACKING_PASSWORD"}

# The Secret with the in-cluster object store's keys (the local stack's MinIO), in each namespace whose workloads use
# it (infra/cluster_layer.py); the steps that call S3 themselves read it into the AWS SDK's key variables, optional:
# S3 stacks have no such Secret, their steps use their IRSA role. Secret key (MinIO's root keys) -> env var.
OBJECT_STORE_CREDENTIALS_SECRET = "object-store-credentials"
OBJECT_STORE_CREDENTIALS_ENV = {"rootUser": "AWS_ACCESS_KEY_ID", "rootPassword": "AWS_SECRET_ACCESS_KEY"}

# MLServer's implementation class for the registered models, importable from the model's code/ folder.
SERVING_IMPLEMENTATION = "serving_runtime.ValidatingSKLearnModel"
# The folder of a registered model (an MLflow model directory) that holds the runtime module.
SERVING_CODE_DIR = "code"

# Environment of every MLflow server the platform runs (in-cluster and local). MLflow 3.x starts a
# job runner with seven huey consumer processes by default (about 14 s of CPU at start, 1 GiB of
# memory), for GenAI jobs the platform does not use: off.
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
