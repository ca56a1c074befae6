"""Benchmark: the platform's V2 model server against a tutorial-style FastAPI server, same model, same load.

    .venv-ml/bin/python benchmarks/serving.py [--clients 4] [--rounds 3] [--seconds 5] [--model PATH]

The model is the champion of `make demo` (.demo/serving/mnt/models/model.pkl) when it exists,
otherwise one trained here in the pipeline's shape. Both servers run on this machine:

- platform: MLServer under the env the platform gives the model container (KServe's
  kserve-mlserver runtime, the runtime class the model carries, native threads bounded by the
  CPU limit: 1), as `demo.serving.model_server` starts it;
- tutorial: FastAPI + pandas as tutorials write it (a pydantic body with the feature names, a
  DataFrame per request, `predict` and `predict_proba`, one uvicorn worker), default threads;
  and the same server with one native thread, to show what the bound alone is worth.

Each round sends single-row requests from ``--clients`` closed-loop clients for ``--seconds``
to one server, rounds alternating between the servers so that both see the same machine.
Prints throughput and p50/p99 latency per server and the platform's ratios to the others.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.serving import model_server, v2_request  # noqa: E402
from pipelines.cluster import SERVING_CODE_DIR  # noqa: E402
from pipelines.fraud.contract import FEATURES, LABEL  # noqa: E402
from pipelines.fraud.data import generate  # noqa: E402
from pipelines.mlflow_server import free_port, stop  # noqa: E402

DEMO_MODEL = ROOT / ".demo" / "serving" / "mnt" / "models" / "model.pkl"

TUTORIAL_APP = '''
import joblib, pandas as pd
from fastapi import FastAPI
from pydantic import create_model

FEATURES = {features!r}
model = joblib.load({model!r})
Transaction = create_model("Transaction", **{{name: (float, ...) for name in FEATURES}})
app = FastAPI()

@app.post("/predict")
def predict(transaction: Transaction):
    frame = pd.DataFrame([transaction.model_dump()])
    return {{"fraud": int(model.predict(frame)[0]), "probability": float(model.predict_proba(frame)[0, 1])}}
'''


def model_dir(model: Path | None, workdir: Path) -> Path:
    """A model folder as KServe mounts it: model.pkl and the serving runtime in code/."""
    target = workdir / "mnt" / "models"
    (target / SERVING_CODE_DIR).mkdir(parents=True)
    shutil.copy(ROOT / "pipelines" / "serving_runtime.py", target / SERVING_CODE_DIR)
    # The runtime's settings, as the register step writes them (the threshold does not change the timing).
    registered = model.parent / SERVING_CODE_DIR / "serving_runtime.json" if model is not None else None
    settings = {"threshold": 0.5, "features": FEATURES, "label": LABEL}
    (target / SERVING_CODE_DIR / "serving_runtime.json").write_text(
        registered.read_text() if registered is not None and registered.exists() else json.dumps(settings)
    )
    if model is not None:
        shutil.copy(model, target / "model.pkl")
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier

        frame = generate(20_000, seed=3)
        estimator = HistGradientBoostingClassifier(max_iter=150, max_leaf_nodes=31, random_state=0)
        joblib.dump(estimator.fit(frame[FEATURES], frame[LABEL]), target / "model.pkl")
    return target


class Tutorial:
    """The tutorial-style server in its own process (uvicorn, one worker)."""

    def __init__(self, model: Path, workdir: Path, threads: int | None) -> None:
        self.port = free_port()
        app_dir = workdir / f"tutorial-{threads or 'default'}"
        app_dir.mkdir()
        (app_dir / "app.py").write_text(TUTORIAL_APP.format(features=FEATURES, model=str(model)))
        env = dict(os.environ)
        if threads:
            env |= {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app:app", "--port", str(self.port), "--workers", "1", "--log-level", "warning"],
            cwd=app_dir, env=env, start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}/predict"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.post(self.url, json=dict.fromkeys(FEATURES, 0.0), timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.25)
        raise TimeoutError("the tutorial server did not start")

    def close(self) -> None:
        stop(self.process)


def load(send, bodies: list, clients: int, seconds: float) -> tuple[int, list[float]]:
    """Closed loop: ``clients`` threads send one request after another for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(offset: int) -> None:
        nonlocal errors
        session, index = requests.Session(), offset
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            ok = send(session, bodies[index % len(bodies)])
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                latencies.append(elapsed)
                errors += not ok
            index += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server, alternating (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per round (default 5)")
    parser.add_argument("--model", type=Path, default=DEMO_MODEL if DEMO_MODEL.exists() else None, help="model.pkl to serve")
    args = parser.parse_args()
    rows = generate(2000, seed=5)[FEATURES].astype(float)
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        workdir = Path(tmp)
        mounted = model_dir(args.model, workdir)
        print(f"model: {args.model or 'trained here (no .demo champion)'}; {os.cpu_count()} cores, {args.clients} clients, "
              f"{args.rounds} x {args.seconds:.0f} s per server, single-row requests")
        v2_bodies = [v2_request([row]) for row in rows.values.tolist()]
        tutorial_bodies = rows.to_dict("records")
        with model_server(mounted, "fraud-model-serving", workdir / "mlserver.log", threads=1) as platform:
            url = f"{platform.url}/v2/models/{platform.model_name}/infer"
            tutorials = {"tutorial (default threads)": Tutorial(mounted / "model.pkl", workdir, None),
                         "tutorial (1 thread)": Tutorial(mounted / "model.pkl", workdir, 1)}
            try:
                senders = {"platform (MLServer, 1 thread)": (lambda s, b: s.post(url, json=b, timeout=30).status_code == 200, v2_bodies)}
                for name, server in tutorials.items():
                    senders[name] = (lambda s, b, u=server.url: s.post(u, json=b, timeout=30).status_code == 200, tutorial_bodies)
                for send, bodies in senders.values():  # warm-up
                    load(send, bodies, args.clients, 1.0)
                results: dict[str, dict] = {name: {"errors": 0, "latencies": [], "seconds": 0.0} for name in senders}
                for _ in range(args.rounds):
                    for name, (send, bodies) in senders.items():
                        errors, latencies = load(send, bodies, args.clients, args.seconds)
                        results[name]["errors"] += errors
                        results[name]["latencies"] += latencies
                        results[name]["seconds"] += args.seconds
            finally:
                for server in tutorials.values():
                    server.close()
    figures = {}
    for name, result in results.items():
        latencies = result["latencies"]
        figures[name] = (len(latencies) / result["seconds"], np.percentile(latencies, 50), np.percentile(latencies, 99))
        rps, p50, p99 = figures[name]
        print(f"{name:<32} {rps:7.1f} req/s   p50 {p50:7.2f} ms   p99 {p99:8.2f} ms   errors {result['errors']}")
    (platform_name, (rps, _, p99)), *others = figures.items()
    for name, (other_rps, _, other_p99) in others:
        print(f"platform vs {name}: throughput x{rps / other_rps:.2f}, p99 x{p99 / other_p99:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
