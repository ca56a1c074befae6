"""Serve a registered model the way KServe serves scikit-learn on the V2 protocol: MLServer's sklearn runtime.

KServe's `kserve-mlserver` runtime mounts the model directory and starts
`mlserver` with `mlserver_sklearn.SKLearnModel`; this does the same on
localhost with free ports, and stops the server (its whole process group) on
exit.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from pipelines.mlflow_server import free_port, stop


@dataclass(frozen=True)
class ModelServer:
    """A running V2 model server."""

    url: str
    model_name: str
    metrics_url: str

    def ready(self) -> bool:
        """V2 model readiness (``GET /v2/models/<name>/ready``)."""
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{self.url}/v2/models/{self.model_name}/ready", timeout=2).status_code == 200
        return False

    def infer(self, payload: dict, timeout: float = 10.0) -> requests.Response:
        """``POST /v2/models/<name>/infer``."""
        return requests.post(f"{self.url}/v2/models/{self.model_name}/infer", json=payload, timeout=timeout)


def v2_request(rows: list[list[float]], probabilities: bool = True) -> dict:
    """A V2 infer request with one FP64 tensor of shape [rows, features]."""
    payload: dict = {
        "inputs": [{"name": "features", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": [v for row in rows for v in row]}]
    }
    if probabilities:
        payload["outputs"] = [{"name": "predict_proba"}]
    return payload


def prepare_model_dir(model_dir: Path, target: Path, model_name: str, version: str) -> None:
    """Lay out a model repository the way KServe's storage initializer leaves /mnt/models."""
    target.mkdir(parents=True, exist_ok=True)
    pickled = model_dir / "model.pkl"
    if not pickled.exists():
        raise FileNotFoundError(f"{model_dir} has no model.pkl; register the model with the pickle serialization format")
    shutil.copy(pickled, target / "model.pkl")
    settings = {
        "name": model_name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.pkl", "version": version},
    }
    (target / "model-settings.json").write_text(json.dumps(settings, indent=2))


@contextlib.contextmanager
def model_server(repository: Path, model_name: str, log_file: Path, timeout: float = 90.0) -> Iterator[ModelServer]:
    """Start ``mlserver start <repository>`` and wait for the model to be ready."""
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    # One process: MLServer 1.7.1's worker pool fails here ("no current event loop").
    (repository / "settings.json").write_text(
        json.dumps({"parallel_workers": 0, "host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port,
                    "metrics_port": metrics_port, "debug": False})
    )
    mlserver = Path(sys.executable).parent / "mlserver"
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [str(mlserver), "start", str(repository)], stdout=log, stderr=subprocess.STDOUT, cwd=repository,
            start_new_session=True,
        )
        server = ModelServer(f"http://127.0.0.1:{http_port}", model_name, f"http://127.0.0.1:{metrics_port}/metrics")
        try:
            deadline = time.monotonic() + timeout
            while not server.ready():
                if process.poll() is not None:
                    raise RuntimeError(f"mlserver exited with {process.returncode}; see {log_file}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"model {model_name} not ready after {timeout:.0f} s; see {log_file}")
                time.sleep(0.25)
            yield server
        finally:
            stop(process)
