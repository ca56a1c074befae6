"""The pipeline's latency check gives the same verdict on the same model on a quiet and on a busy machine."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sklearn.ensemble import HistGradientBoostingClassifier

from pipelines.fraud import mlflow_steps
from pipelines.fraud.contract import FEATURES, LABEL
from pipelines.fraud.data import generate
from pipelines.fraud.latency import p95_single_row_ms
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


def test_latency_verdict_is_the_same_at_load_1_and_load_5() -> None:
    """evaluate's single-row p95 (one thread, CPU time, best of 3) stays under the gate's ceiling with the machine saturated."""
    frame = generate(6000, seed=11)
    # The shape of the pipeline's largest grid point (max_leaf_nodes 31, max_iter 150).
    model = HistGradientBoostingClassifier(max_iter=150, max_leaf_nodes=31, random_state=0).fit(frame[FEATURES], frame[LABEL])
    rows = frame[FEATURES].tail(1000).head(100)  # what evaluate measures: the first 100 held-out rows
    ceiling = fraud_training.component_spec.inputs["max_p95_latency_ms"].default

    quiet = p95_single_row_ms(model, rows)
    with cpu_hogs(HOGS):
        busy = p95_single_row_ms(model, rows)
    print(f"p95 single-row latency: {quiet:.2f} ms quiet, {busy:.2f} ms with {HOGS} CPU hogs (ceiling {ceiling} ms)")
    assert quiet < ceiling and busy < ceiling, (quiet, busy)


def test_evaluate_gates_on_this_measurement() -> None:
    """The evaluate step measures latency with this function, on the rows named above (its source is what runs)."""
    source = inspect.getsource(mlflow_steps.evaluate.python_func)
    assert "from pipelines.fraud.latency import p95_single_row_ms" in source
    assert 'results["p95_latency_ms"] = p95_single_row_ms(estimator, features.head(100))' in source
