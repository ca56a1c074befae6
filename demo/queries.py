"""The demo's requests to the served model: single rows, a batch, the malformed ones it must refuse, and the
logged everyday and shifted traffic the drift pipeline reads."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

from demo.serving import ModelServer, outputs, v2_request
from pipelines.drift.requests import write_record
from pipelines.fraud.contract import FEATURES, LABEL

# Where the served model's requests are logged, as KServe's logger lays them out (s3://.../inference-logs in a cluster).
NAMESPACE, INFERENCE_SERVICE = "models", "fraud"


def _percentiles(latencies_ms: list[float]) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(latencies_ms, q)) for q in (50, 95, 99)}


def serve_and_query(server: ModelServer, frame: pd.DataFrame, say: Callable[[str], None]) -> dict[str, Any]:
    """Real V2 requests: single rows, a 100-row batch, and a malformed one."""
    sample = frame.sample(n=50, random_state=1)
    latencies, predictions = [], []
    for _, row in sample.iterrows():
        began = time.perf_counter()
        response = server.infer(v2_request([row[FEATURES].astype(float).tolist()]))
        latencies.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
        predictions.append({"fraud_probability": outputs(response)[f"{LABEL}_probability"][0], "label": int(row[LABEL])})
    batch_rows = frame.head(100)[FEATURES].astype(float).values.tolist()
    began = time.perf_counter()
    batch = server.infer(v2_request(batch_rows))
    batch_ms = (time.perf_counter() - began) * 1000
    batch.raise_for_status()
    batch_output = batch.json()["outputs"][0]
    malformed = server.infer({"inputs": [{"name": "features", "datatype": "FP64"}]})
    # The malformed requests the runtime the model carries refuses with a 4xx (pipelines/serving_runtime.py).
    width = len(FEATURES)
    bad_requests = {
        "shape/data mismatch": {"inputs": [{"name": "features", "shape": [2, width], "datatype": "FP64", "data": batch_rows[0]}]},
        "wrong feature count": {"inputs": [{"name": "features", "shape": [1, width - 1], "datatype": "FP64", "data": batch_rows[0][:-1]}]},
        "wrong datatype": {"inputs": [{"name": "features", "shape": [1, width], "datatype": "BYTES", "data": ["x"] * width}]},
        "empty batch": {"inputs": [{"name": "features", "shape": [0, width], "datatype": "FP64", "data": []}]},
    }
    refused = {name: server.infer(body) for name, body in bad_requests.items()}
    unknown = requests.post(f"{server.url}/v2/models/no-such-model/infer", json=v2_request(batch_rows[:1]), timeout=10)
    refused["unknown model"] = unknown
    still_ready = server.ready()
    single = _percentiles(latencies)
    say(f"single-row V2 infer x{len(latencies)}: p50 {single['p50']:.1f} ms, p95 {single['p95']:.1f} ms, p99 {single['p99']:.1f} ms")
    say(f"100-row batch: {batch_ms:.1f} ms, output shape {batch_output['shape']}")
    for item in predictions[:5]:
        say(f"  fraud probability {item['fraud_probability']:.3f} (true label {item['label']})")
    say(f"malformed request -> HTTP {malformed.status_code}: {malformed.text[:120]}")
    for name, response in refused.items():
        say(f"{name} -> HTTP {response.status_code}: {response.text[:110]}")
    say(f"server still ready after it: {still_ready}")
    return {
        "single_row_ms": single,
        "batch_rows": len(batch_rows),
        "batch_ms": batch_ms,
        "batch_output_shape": batch_output["shape"],
        "predictions": predictions[:10],
        "malformed_status": malformed.status_code,
        "malformed_body": malformed.text[:300],
        "ready_after_malformed": still_ready,
        "refused": {name: {"status": r.status_code, "body": r.text[:300]} for name, r in refused.items()},
    }


def send_logged(server: ModelServer, rows: list[list[float]], log_root: Path, batch: int = 50) -> int:
    """Send ``rows`` as V2 requests of ``batch`` rows and log each request as KServe's logger writes it.

    On a cluster the InferenceService's logger (KServe's agent) does the logging; here nothing sits
    in front of MLServer, so the demo writes the same records (pipelines/drift/requests.py).
    """
    for start in range(0, len(rows), batch):
        payload = v2_request(rows[start:start + batch])
        server.infer(payload).raise_for_status()
        write_record(log_root, json.dumps(payload).encode(), NAMESPACE, INFERENCE_SERVICE)
    return len(rows)
