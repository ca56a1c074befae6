"""What the platform hands pipeline steps: the Secret with the MLflow credentials they send.

No dependencies, so that both sides read it: the program creates the Secret in each
client namespace (infra/components/mlflow_server.py) and the compiled pipeline reads it
into MLflow's client env vars (pipelines/fraud/pipeline.py).
"""

MLFLOW_CREDENTIALS_SECRET = "mlflow-credentials"
# Secret key -> the env var the MLflow client reads for basic auth.
MLFLOW_CREDENTIALS_ENV = {"username": "MLFLOW_TRACKING_USERNAME", "password": "MLFLOW_TRACKING_PASSWORD"}
