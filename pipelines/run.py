"""Run a training pipeline locally with kfp.local (SubprocessRunner) against an MLflow tracking URI.

    python -m pipelines.run --data-uri data/fraud.csv --tracking-uri http://127.0.0.1:5000 \
        [--param auc_floor=0.92 --param 'param_grid={"max_iter": [5]}'] [--start-mlflow DIR] [--cold]
    python -m pipelines.run --data-uri transactions.parquet --feature-store feature_store.yaml --start-mlflow DIR

With --feature-store (a feature_store.yaml, pipelines/features/repo.py's) the run reads raw transactions through
Feast (feature_source=feast): kfp.local runs every step with this environment's python, and the feature steps run
the feature store's CLI with .venv-features/bin/python (pipelines/features/steps.py; Feast needs pandas < 3).

The steps run as forks of one interpreter that has imported their libraries (pipelines/step_server.py; the
functions :func:`run_pipeline` and :func:`run_drift` use one whenever a ``step_server()`` is running); with --cold
each is a new interpreter, as in its pod.

With --start-mlflow DIR a real MLflow server (SQLite, local artifacts) is
started under DIR for the run and stopped afterwards. Prints the gate decision
and the registered model; exits 1 with a one-line reason when a step fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from kfp import local

# Locally the steps run in this environment, which is the step image's (requirements/steps.lock):
# kfp.local's warning about the image name is expected.
warnings.filterwarnings("ignore", message="You may be attemping to run a task that uses custom or non-Python base image")

from pipelines import step_server
from pipelines.drift.pipeline import model_drift
from pipelines.features.repo import FEATURE_SOURCES, check_feature_source
from pipelines.features.steps import FEATURES_PYTHON_ENV
from pipelines.fraud.pipeline import DEFAULT_MODEL_NAME, fraud_training
from pipelines.mlflow_server import mlflow_server

ROOT = Path(__file__).resolve().parent.parent
# The features environment (make .venv-features/.installed): the interpreter of the feature steps' CLI here.
FEATURES_PYTHON = ROOT / ".venv-features" / "bin" / "python"


@dataclass
class PipelineResult:
    """What a local pipeline run produced."""

    promoted: bool
    gate_reason: str
    version: str
    storage_uri: str
    seconds: float


class PipelineFailed(RuntimeError):
    """A step failed; the message is the step's one-line reason."""


def git_commit() -> str:
    """The working tree's commit, or empty when not in a git checkout."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION = re.compile(r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")
_FAILED_TASK = re.compile(r"Task '([\w-]+)' finished with status FAILURE")


def _reason_from(log_text: str) -> str:
    """One line: the failing step and its reason, from the run's log."""
    text = _ANSI.sub("", log_text)
    task = next(iter(_FAILED_TASK.findall(text)), "a step")
    validation = [line.split("DATA VALIDATION FAILED: ", 1)[1] for line in text.splitlines() if "DATA VALIDATION FAILED: " in line]
    if validation:
        return f"{task}: {validation[-1].strip()}"
    exceptions = [match for line in text.splitlines() if (match := _EXCEPTION.match(line))]
    if exceptions:
        kind, message = exceptions[-1].groups()
        return f"{task}: {kind}: {message.strip()}"
    return f"{task} failed; see its log above"


def _run_locally(pipeline: Any, pipeline_root: Path, log_name: str, echo: bool, **arguments: Any) -> dict[str, Any]:
    """Run ``pipeline`` once with kfp.local; its outputs. Raises :class:`PipelineFailed` with the failing step's reason.

    The steps' output goes to ``<pipeline_root>/<log_name>-<ms>.log`` and, with ``echo``, to the console.
    """
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root), raise_on_error=True)
    # The steps import the project's `pipelines` package, as they do from the step image's PYTHONPATH.
    os.environ["PYTHONPATH"] = step_server.with_project(os.environ.get("PYTHONPATH", ""))
    if FEATURES_PYTHON.exists():
        os.environ.setdefault(FEATURES_PYTHON_ENV, str(FEATURES_PYTHON))
    pipeline_root.mkdir(parents=True, exist_ok=True)
    log_path = pipeline_root / f"{log_name}-{int(time.time() * 1000)}.log"
    streams = (sys.stdout, log_path.open("w+")) if echo else (log_path.open("w+"),)
    with streams[-1], contextlib.redirect_stdout(Tee(*streams)), step_server.interpreter():
        try:
            return dict(pipeline(**arguments).outputs)
        except RuntimeError as error:
            streams[-1].flush()
            raise PipelineFailed(_reason_from(log_path.read_text() + "\n" + str(error))) from None


def run_pipeline(data_uri: str, tracking_uri: str, pipeline_root: Path, echo: bool = True, **params: Any) -> PipelineResult:
    """Run the fraud pipeline once; raises :class:`PipelineFailed` with the failing step's reason.

    The steps' output goes to a log file under ``pipeline_root`` and, with ``echo``, to the console.
    """
    params.setdefault("git_commit", git_commit())
    source = check_feature_source(params.get("feature_source", FEATURE_SOURCES[0]))
    if source == "feast" and not params.get("feature_store"):
        raise ValueError("feature_source feast needs feature_store (the feature_store.yaml text; --feature-store FILE)")
    started = time.perf_counter()
    outputs = _run_locally(fraud_training, pipeline_root, "run", echo, data_uri=data_uri, tracking_uri=tracking_uri, **params)
    if outputs["decision"] == "no-data":
        return PipelineResult(False, f"no data yet at {data_uri}", "", "", time.perf_counter() - started)
    mlflow.set_tracking_uri(tracking_uri)
    version = mlflow.MlflowClient().get_model_version(params.get("model_name", DEFAULT_MODEL_NAME), str(outputs["version"]))
    return PipelineResult(
        promoted=outputs["decision"] == "promote",
        gate_reason=version.tags.get("gate", ""),
        version=str(outputs["version"]),
        storage_uri=str(outputs["storage_uri"]),
        seconds=time.perf_counter() - started,
    )


@dataclass
class DriftResult:
    """What a local run of the drift pipeline found."""

    status: str
    drift_score: float
    drifted: list[str]
    seconds: float
    # Set when the drift started a retraining: what started it, and the version it registered with the gate's verdict.
    trigger: str = ""
    retrained: dict[str, Any] | None = None


def run_drift(log_uri: str, tracking_uri: str, pipeline_root: Path, namespace: str, inference_service: str,
              echo: bool = True, **params: Any) -> DriftResult:
    """Run the model-drift pipeline once over the request log at ``log_uri``; raises :class:`PipelineFailed`."""
    started = time.perf_counter()
    outputs = _run_locally(model_drift, pipeline_root, "drift", echo, log_uri=log_uri, tracking_uri=tracking_uri,
                           namespace=namespace, inference_service=inference_service, **params)
    drifted = [name for name in str(outputs["drifted"]).split(",") if name]
    trigger = str(outputs["trigger"])
    retrained = None
    if trigger:
        mlflow.set_tracking_uri(tracking_uri)
        model_name = params.get("model_name", DEFAULT_MODEL_NAME)
        client = mlflow.MlflowClient()
        version = next(v for v in client.search_model_versions(f"name='{model_name}'") if v.tags.get("trigger") == trigger)
        retrained = {"version": version.version, "promoted": version.tags.get("promoted") == "true", "gate": version.tags.get("gate", "")}
    return DriftResult(str(outputs["status"]), float(outputs["drift_score"]), drifted, time.perf_counter() - started, trigger, retrained)


class Tee:
    """Write to several streams (the console and the run's log file)."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def _parse_params(items: list[str]) -> dict[str, Any]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --param {item!r} is not key=value")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-uri", required=True, help="s3://bucket/key (with --param s3_endpoint_url=...) or a local CSV path")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (or use --start-mlflow)")
    parser.add_argument("--start-mlflow", type=Path, metavar="DIR", help="start a local MLflow server with its store in DIR")
    parser.add_argument("--pipeline-root", type=Path, help="where kfp.local keeps step outputs (default: a temp dir)")
    parser.add_argument("--param", action="append", default=[], help="pipeline parameter key=value (JSON values allowed)")
    parser.add_argument("--feature-store", type=Path, metavar="YAML",
                        help="read the raw transactions at --data-uri through Feast with this feature_store.yaml")
    parser.add_argument("--cold", action="store_true",
                        help="start every step as a new interpreter, as its pod does (default: forks of one that has "
                             "imported the steps' libraries, pipelines/step_server.py)")
    args = parser.parse_args(argv)
    if not args.tracking_uri and not args.start_mlflow:
        parser.error("give --tracking-uri or --start-mlflow DIR")
    params = _parse_params(args.param)
    if args.feature_store:
        if not args.feature_store.is_file():
            parser.error(f"--feature-store {args.feature_store} is not a file (write one with repo.feature_store_yaml)")
        params.update(feature_source="feast", feature_store=args.feature_store.read_text())
    data_uri = args.data_uri if args.data_uri.startswith("s3://") else str(Path(args.data_uri).resolve())
    with contextlib.ExitStack() as stack:
        tracking_uri = args.tracking_uri or stack.enter_context(mlflow_server(args.start_mlflow))
        root = args.pipeline_root or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kfp-local-")))
        if not args.cold:
            stack.enter_context(step_server.step_server(root / "step-server"))
        try:
            result = run_pipeline(data_uri, tracking_uri, root, **params)
        except PipelineFailed as error:
            print(f"error: pipeline failed: {error}", file=sys.stderr)
            return 1
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if not result.version:
        print(f"nothing trained: {result.gate_reason}")
        return 0
    print(f"gate: {result.gate_reason}")
    print(f"registered version {result.version} ({'champion' if result.promoted else 'challenger'}) at {result.storage_uri}")
    print(f"pipeline run took {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
