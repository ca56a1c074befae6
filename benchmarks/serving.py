"""Benchmark: the platform's V2 model server against a tutorial-style FastAPI server and the model's compute limit.

    .venv-ml/bin/python benchmarks/serving.py [--clients 1,4,8,16] [--rounds 3] [--seconds 5] [--model PATH]
    .venv-ml/bin/python benchmarks/serving.py --sweep   # the platform alone, per batching setting

The model is the champion of `make demo` (.demo/serving/mnt/models/model.pkl) when it exists,
otherwise one trained here in the pipeline's shape. Both servers run on this machine:

- platform: MLServer under the env the platform gives the model container (KServe's
  kserve-mlserver runtime, the runtime class the model carries, native threads bounded by the
  CPU limit: 1, inference in MLServer's own process, the serving chart's adaptive batching), as
  `demo.serving.model_server` starts it;
- tutorial: FastAPI + pandas as tutorials write it (a pydantic body with the feature names, a
  DataFrame per request, `predict` and `predict_proba`, one uvicorn worker), default threads;
- compute limit: the model alone, in this process, on one thread (the server's one process and
  one native thread, the chart's CPU limit of 1): `predict_proba` of one row (a 1 x features
  float array, as the runtime builds it), back to back. Its throughput is calls per second x 1
  core; its p99 at c clients is c x the p99 of one call (a request waits for the c - 1 requests
  ahead of it and its own). Batching can beat it: one call on 8 rows costs about one on 1 row.

Each round sends single-row requests from c closed-loop clients (threads, keep-alive
connections, bodies encoded beforehand) for ``--seconds`` to one server, for each c, alternating
between the servers (and the limit) so that all see the same machine. Prints one table: per c,
throughput (req/s) and p99 (ms) of each, the ratios platform/tutorial and platform/limit, and
whether issue 31's goals hold: at 8 clients >= 80% of the limit and >= 4x the tutorial server,
and a p99 lower than the tutorial's at every c. ``--sweep`` runs the platform alone at 1 and 8
clients for each batching setting (max_batch_size x max_batch_time), one server each, in
alternating rounds: the measurement behind the chart's ``model.batching``. The machine's load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import requests
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.serving import Batching, chart_batching, model_server, v2_request  # noqa: E402
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


CLIENTS = (1, 4, 8, 16)
# Issue 31's goals: at GOAL_CLIENTS, the platform's throughput over the limit's and over the tutorial server's.
GOAL_CLIENTS, GOAL_OF_LIMIT, GOAL_OF_TUTORIAL = 8, 0.8, 4.0
# The settings --sweep tries: MLServer's max_batch_size x max_batch_time (seconds); (1, 0) is batching off.
SWEEP_SIZES, SWEEP_TIMES = (4, 8, 16, 32), (0.0005, 0.001, 0.002)


def load(url: str, bodies: list[bytes], clients: int, seconds: float) -> tuple[int, list[float]]:
    """Closed loop: ``clients`` threads, one keep-alive connection each, send one request after another for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    host, _, rest = url.removeprefix("http://").partition("/")
    path = "/" + rest

    def client(offset: int) -> None:
        nonlocal errors
        connection, index, mine, failed = http.client.HTTPConnection(host, timeout=30), offset, [], 0
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            connection.request("POST", path, body=bodies[index % len(bodies)], headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - began) * 1000)
            failed += response.status != 200
            index += clients
        connection.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors, latencies


def limit_calls(model: object, rows: np.ndarray, seconds: float) -> list[float]:
    """The compute limit: one-row ``predict_proba`` calls back to back on one thread for ``seconds``; each call's ms."""
    times: list[float] = []
    stop_at = time.perf_counter() + seconds
    # The fitted model knows its feature names and warns on every unnamed array: not part of the cost (the runtime's log).
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index in itertools.cycle(range(len(rows))):
            began = time.perf_counter()
            model.predict_proba(rows[index : index + 1])
            times.append((time.perf_counter() - began) * 1000)
            if began > stop_at:
                return times
    return times


def figures(latencies: list[float], seconds: float) -> tuple[float, float]:
    """Throughput (req/s) and p99 (ms)."""
    return len(latencies) / seconds, float(np.percentile(latencies, 99))


def sweep(mounted: Path, workdir: Path, bodies: list[bytes], rounds: int, seconds: float) -> None:
    """The platform alone at 1 and 8 clients for each batching setting: one server per setting, rounds alternating."""
    settings = [Batching(1, 0.0), *(Batching(size, wait) for size, wait in itertools.product(SWEEP_SIZES, SWEEP_TIMES))]
    latencies: dict[tuple[Batching, int], list[float]] = {}
    with contextlib.ExitStack() as stack:
        urls = {}
        for setting in settings:
            server = stack.enter_context(model_server(mounted, "fraud-model-serving", workdir / "mlserver.log", threads=1, batching=setting))
            urls[setting] = f"{server.url}/v2/models/{server.model_name}/infer"
            load(urls[setting], bodies, GOAL_CLIENTS, 1.0)  # warm-up
        for _ in range(rounds):
            for setting, url in urls.items():
                for clients in (1, GOAL_CLIENTS):
                    latencies.setdefault((setting, clients), []).extend(load(url, bodies, clients, seconds)[1])
    print(f"{'max_batch_size':>14} {'max_batch_time':>15} | {'1 client req/s':>14} {'p99 ms':>7} | {'8 clients req/s':>15} {'p99 ms':>7}")
    for setting in settings:
        (rps1, p991), (rps8, p998) = (figures(latencies[setting, clients], rounds * seconds) for clients in (1, GOAL_CLIENTS))
        print(f"{setting.max_batch_size:>14} {setting.max_batch_time:>15.4f} | {rps1:>14.1f} {p991:>7.2f} | {rps8:>15.1f} {p998:>7.2f}")


def table(results: dict[tuple[str, int], tuple[float, float]], errors: int) -> None:
    """The one table: per client count, each server's throughput and p99, the ratios and the goals."""
    print(f"{'clients':>7} | {'platform req/s':>14} {'p99 ms':>7} | {'tutorial req/s':>14} {'p99 ms':>7} | "
          f"{'limit req/s':>11} {'p99 ms':>7} | {'x tutorial':>10} {'of limit':>8} {'p99 x tut':>9}")
    goals = []
    for clients in sorted({c for _, c in results}):
        (rps, p99), (t_rps, t_p99), (l_rps, l_p99) = (results[name, clients] for name in ("platform", "tutorial", "limit"))
        print(f"{clients:>7} | {rps:>14.1f} {p99:>7.2f} | {t_rps:>14.1f} {t_p99:>7.2f} | {l_rps:>11.1f} {l_p99:>7.2f} | "
              f"{rps / t_rps:>9.2f}x {rps / l_rps:>7.0%} {p99 / t_p99:>8.2f}x")
        goals.append((f"p99 below the tutorial's at {clients} clients", p99 < t_p99))
        if clients == GOAL_CLIENTS:
            goals += [(f">= {GOAL_OF_LIMIT:.0%} of the compute limit at {clients} clients", rps >= GOAL_OF_LIMIT * l_rps),
                      (f">= {GOAL_OF_TUTORIAL:.0f}x the tutorial server at {clients} clients", rps >= GOAL_OF_TUTORIAL * t_rps)]
    for goal, held in goals:
        print(f"goal {'met    ' if held else 'NOT met'}  {goal}")
    print(f"failed requests: {errors}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)), help="client counts, comma-separated (default 1,4,8,16)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server and client count (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per round (default 5)")
    parser.add_argument("--model", type=Path, default=DEMO_MODEL if DEMO_MODEL.exists() else None, help="model.pkl to serve")
    parser.add_argument("--sweep", action="store_true", help="the platform alone per batching setting, at 1 and 8 clients")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    if GOAL_CLIENTS not in counts:
        parser.error(f"--clients must include {GOAL_CLIENTS}, the load the goals are stated at")
    rows = generate(2000, seed=5)[FEATURES].astype(float)
    v2_bodies = [json.dumps(v2_request([row])).encode() for row in rows.values.tolist()]
    tutorial_bodies = [json.dumps(row).encode() for row in rows.to_dict("records")]
    print(f"model: {args.model or 'trained here (no .demo champion)'}; {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start; single-row requests; batching {chart_batching()}")
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        workdir = Path(tmp)
        mounted = model_dir(args.model, workdir)
        if args.sweep:
            sweep(mounted, workdir, v2_bodies, args.rounds, args.seconds)
            print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
            return 0
        model, array = joblib.load(mounted / "model.pkl"), rows.to_numpy()
        latencies: dict[tuple[str, int], list[float]] = {}
        limit: list[float] = []
        errors = 0
        print(f"{args.rounds} alternating rounds x {args.seconds:.0f} s per server and client count {counts}")
        with model_server(mounted, "fraud-model-serving", workdir / "mlserver.log", threads=1) as platform:
            tutorial = Tutorial(mounted / "model.pkl", workdir, None)
            try:
                urls = {"platform": (f"{platform.url}/v2/models/{platform.model_name}/infer", v2_bodies),
                        "tutorial": (tutorial.url, tutorial_bodies)}
                for url, bodies in urls.values():  # warm-up
                    load(url, bodies, max(counts), 1.0)
                for _ in range(args.rounds):
                    limit += limit_calls(model, array, args.seconds)
                    for clients in counts:
                        for name, (url, bodies) in urls.items():
                            failed, measured = load(url, bodies, clients, args.seconds)
                            errors += failed
                            latencies.setdefault((name, clients), []).extend(measured)
            finally:
                tutorial.close()
    seconds = args.rounds * args.seconds
    results = {key: figures(measured, seconds) for key, measured in latencies.items()}
    call_rps, call_p99 = len(limit) / (sum(limit) / 1000), float(np.percentile(limit, 99))
    results |= {("limit", clients): (call_rps, clients * call_p99) for clients in counts}
    table(results, errors)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
