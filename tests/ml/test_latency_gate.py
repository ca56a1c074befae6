"""The pipeline's latency check gives the same verdict on the same model on a quiet and on a busy machine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import joblib
import mlflow
from kfp import dsl
from sklearn.ensemble import HistGradientBoostingClassifier

from pipelines.fraud import components
from pipelines.fraud.contract import FEATURES, LABEL, as_parameter
from pipelines.fraud.data import generate
from pipelines.fraud.pipeline import fraud_training

HOGS = 5  # busy processes: load 5 beside the check (CI has 2 cores)


@contextmanager
def cpu_hogs(count: int) -> Iterator[None]:
    """``count`` bare interpreters that each keep a core busy (no imports: busy from their first millisecond)."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_latency_verdict_is_the_same_at_load_1_and_load_5(tmp_path: Path) -> None:
    """evaluate's single-row p95 (one thread, CPU time, best of 3) stays under the gate's ceiling with the machine saturated."""
    frame = generate(6000, seed=11)
    # evaluate logs to MLflow: a SQLite store of this test's own.
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    model_path, test_path = tmp_path / "model.joblib", tmp_path / "test.csv"
    # The shape of the pipeline's largest grid point (max_leaf_nodes 31, max_iter 150).
    joblib.dump(HistGradientBoostingClassifier(max_iter=150, max_leaf_nodes=31, random_state=0).fit(frame[FEATURES], frame[LABEL]), model_path)
    frame.tail(1000).to_csv(test_path, index=False)
    mlflow.set_tracking_uri(tracking_uri)
    # An experiment of its own: another test in this process may have left a different one active.
    experiment = mlflow.MlflowClient(tracking_uri).create_experiment("latency-gate")
    with mlflow.start_run(experiment_id=experiment) as run:
        pass
    ceiling = fraud_training.component_spec.inputs["max_p95_latency_ms"].default

    def p95() -> float:
        return components.evaluate.python_func(
            model=dsl.Model(uri=str(model_path)), test_data=dsl.Dataset(uri=str(test_path)), contract=as_parameter(),
            threshold=0.5, tracking_uri=tracking_uri, run_id=run.info.run_id,
            metrics=dsl.Metrics(uri=str(tmp_path / "metrics")), classification=dsl.ClassificationMetrics(uri=str(tmp_path / "cls")),
        ).p95_latency_ms

    quiet = p95()
    with cpu_hogs(HOGS):
        busy = p95()
    print(f"p95 single-row latency: {quiet:.2f} ms quiet, {busy:.2f} ms with {HOGS} CPU hogs (ceiling {ceiling} ms)")
    assert quiet < ceiling and busy < ceiling, (quiet, busy)
