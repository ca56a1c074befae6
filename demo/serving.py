"""Serve a registered model the way the platform serves it: KServe's `kserve-mlserver` runtime.

KServe downloads the registered model's folder to /mnt/models and starts `mlserver start
/mnt/models` with the runtime's env, its defaults (model name and URI) and the chart's (the
runtime class the model carries, bounded thread pools); this does the same on localhost with
free ports, and stops the server (its whole process group) on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from pipelines.cluster import SERVING_CODE_DIR, SERVING_IMPLEMENTATION
from pipelines.mlflow_server import free_port, stop

# The serving chart's values: the one owner of the model container's batching numbers.
CHART_VALUES = Path(__file__).resolve().parent.parent / "charts" / "model-serving" / "values.yaml"


@dataclass(frozen=True)
class Batching:
    """MLServer's adaptive batching: up to ``max_batch_size`` queued requests merged into one ``predict``, waiting at
    most ``max_batch_time`` seconds for the batch to fill (off unless the size is over 1 and the time over 0)."""

    max_batch_size: int
    max_batch_time: float

    def env(self) -> dict[str, str]:
        """As MLServer's model settings from env (``MLSERVER_MODEL_`` prefix), the way the serving chart passes them."""
        return {"MLSERVER_MODEL_MAX_BATCH_SIZE": str(self.max_batch_size), "MLSERVER_MODEL_MAX_BATCH_TIME": str(self.max_batch_time)}


def chart_batching() -> Batching:
    """The batching the serving chart gives every model (values.yaml ``model.batching``)."""
    batching = yaml.safe_load(CHART_VALUES.read_text())["model"]["batching"]
    return Batching(int(batching["maxBatchSize"]), float(batching["maxBatchTime"]))


@dataclass(frozen=True)
class ModelServer:
    """A running V2 model server."""

    url: str
    model_name: str
    # Where MLServer serves its Prometheus metrics (the chart's metrics port, 8082, in a pod).
    metrics_url: str = ""
    # The server's process and log, when model_server started it.
    process: subprocess.Popen | None = None
    log_file: Path | None = None

    def wait_ready(self, timeout: float = 90.0) -> ModelServer:
        """Wait until the model is ready; raise naming the log when the server exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"mlserver exited with {self.process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"model {self.model_name} not ready after {timeout:.0f} s; see {self.log_file}")
            time.sleep(0.25)
        return self

    def ready(self) -> bool:
        """V2 model readiness (``GET /v2/models/<name>/ready``)."""
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{self.url}/v2/models/{self.model_name}/ready", timeout=2).status_code == 200
        return False

    def metadata(self) -> dict:
        """V2 model metadata (``GET /v2/models/<name>``): its input and output tensors."""
        response = requests.get(f"{self.url}/v2/models/{self.model_name}", timeout=10)
        response.raise_for_status()
        return response.json()

    def infer(self, payload: dict, timeout: float = 10.0) -> requests.Response:
        """``POST /v2/models/<name>/infer``."""
        return requests.post(f"{self.url}/v2/models/{self.model_name}/infer", json=payload, timeout=timeout)


def v2_request(rows: list[list[float]]) -> dict:
    """A V2 infer request with one FP64 tensor of shape [rows, features]; the response carries every output."""
    return {
        "inputs": [{"name": "features", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": [v for row in rows for v in row]}]
    }


def outputs(response: requests.Response) -> dict[str, list]:
    """A V2 infer response's output tensors by name (the runtime's ``output_names``: ``<label>_probability``, ``<label>_decision``)."""
    return {output["name"]: output["data"] for output in response.json()["outputs"]}


def prepare_model_dir(model_dir: Path, target: Path) -> Path:
    """Lay out a registered model the way KServe's storage initializer leaves /mnt/models: its whole folder."""
    if not (model_dir / "model.pkl").exists():
        raise FileNotFoundError(f"{model_dir} has no model.pkl; register the model with the pickle serialization format")
    shutil.copytree(model_dir, target, dirs_exist_ok=True)
    return target


def serving_env(model_dir: Path, model_name: str, threads: int, implementation: str, batching: Batching | None = None) -> dict[str, str]:
    """The model container's env on the platform, with ``model_dir`` for /mnt/models.

    What KServe's defaulter adds for an MLServer predictor (the model's name and URI), and what
    the serving chart adds: the runtime class the model carries, from its code folder, native
    thread pools bounded by the CPU the model is given, inference in MLServer's own process (no
    worker pool: the runtime checks each request there before MLServer batches it), and adaptive
    batching (``batching``; the chart's by default).
    """
    env = {"MLSERVER_MODEL_NAME": model_name, "MLSERVER_MODEL_URI": str(model_dir), "MLSERVER_PARALLEL_WORKERS": "0"}
    if implementation:
        env |= {"MLSERVER_MODEL_IMPLEMENTATION": implementation, "PYTHONPATH": str(model_dir / SERVING_CODE_DIR)}
    env |= (batching or chart_batching()).env()
    return env | {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@contextlib.contextmanager
def model_server(
    model_dir: Path,
    model_name: str,
    log_file: Path,
    *,
    threads: int = 1,
    implementation: str = SERVING_IMPLEMENTATION,
    runtime_env: dict[str, str] | None = None,
    timeout: float = 90.0,
    metrics_port: int | None = None,
    mlserver: Path | None = None,
    batching: Batching | None = None,
    wait: bool = True,
) -> Iterator[ModelServer]:
    """Start ``mlserver start <model_dir>`` as the platform runs it, and wait for the model to be ready.

    ``runtime_env`` is the ServingRuntime container's env (KServe's ``kserve-mlserver``), which
    the predictor's env overrides by name, as KServe merges them. ``mlserver``: the server of another
    environment (the serving image's, tests/ml/test_serving_image.py); this environment's by default.
    ``metrics_port``: where MLServer serves its metrics (a free port if None), so that a Prometheus can be told
    before the server starts. ``batching``: MLServer's adaptive batching, the serving chart's if None. With
    ``wait=False`` the server comes at once, still starting: :meth:`ModelServer.wait_ready` before using it.
    """
    http_port, grpc_port, metrics_port = free_port(), free_port(), metrics_port or free_port()
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(model_dir)), **(runtime_env or {})}
    if "MLSERVER_MODEL_IMPLEMENTATION" not in env and not implementation:
        env["MLSERVER_MODEL_IMPLEMENTATION"] = "mlserver_sklearn.SKLearnModel"  # the runtime's class for sklearn
    env |= serving_env(model_dir, model_name, threads, implementation, batching)
    env |= {
        "MLSERVER_HOST": "127.0.0.1", "MLSERVER_HTTP_PORT": str(http_port), "MLSERVER_GRPC_PORT": str(grpc_port),
        "MLSERVER_METRICS_PORT": str(metrics_port),
    }
    mlserver = mlserver or Path(sys.executable).parent / "mlserver"
    with open(log_file, "ab") as log:
        # The image's entrypoint: `mlserver start $MLSERVER_MODELS_DIR` (/mnt/models).
        process = subprocess.Popen(
            [str(mlserver), "start", str(model_dir)], stdout=log, stderr=subprocess.STDOUT, cwd=model_dir.parent,
            env=env, start_new_session=True,
        )
        server = ModelServer(f"http://127.0.0.1:{http_port}", model_name, f"http://127.0.0.1:{metrics_port}/metrics",
                             process, log_file)
        try:
            yield server.wait_ready(timeout) if wait else server
        finally:
            stop(process)
