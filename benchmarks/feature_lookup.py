"""Benchmark: the feature store's online lookup on the local stack's store (PostgreSQL 15 + `feast serve`), and the
end-to-end V2 request with and without the transformer in front of the model.

    .venv-features/bin/python benchmarks/feature_lookup.py [--requests 300] [--customers 200]

Everything runs on this machine: the repository applied from generated raw transactions and materialized into a
throwaway PostgreSQL (pipelines/features/local.py, as the tests start it), `feast serve`, the transformer
(pipelines/features/transformer.py, as the chart runs it) and a stub V2 predictor that answers at once, so that the
difference between the two end-to-end figures is what the transformer and its lookup add, not the model. Sequential
single-row requests, random known customers. Prints p50/p99 in ms for: the lookup (POST /get-online-features, what
the transformer asks), the request straight to the predictor (the caller sends the 7 features) and the request
through the transformer (the caller sends customer_id and the transaction). Wall-clock figures depend on what else
the machine runs, so it also prints the load average and the feature server's CPU time per lookup (its processes'
user + system time over the lookups: what the lookup costs whatever the load).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.features import local, repo, store, transformer  # noqa: E402
from pipelines.fraud.contract import FEATURES  # noqa: E402
from pipelines.fraud.data import generate_raw  # noqa: E402

PASSWORD = "feast-bench-password"


class _Predictor(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as MLServer's uvicorn (TCP_NODELAY): no 40 ms delayed-ACK wait per request

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        rows = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["inputs"][0]["shape"][0]
        body = json.dumps({"model_name": "fraud", "outputs": [{"name": "predict", "shape": [rows], "datatype": "INT64",
                                                               "data": [0] * rows}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _percentiles(samples: list[float]) -> str:
    p50, p99 = np.percentile(np.asarray(samples) * 1000, [50, 99])
    return f"p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"


def _time(session: requests.Session, url: str, bodies: list[dict]) -> list[float]:
    samples = []
    for body in bodies:
        start = time.perf_counter()
        response = session.post(url, json=body, timeout=10)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return samples


def _server_cpu(port: int) -> Callable[[], float]:
    """A clock of the CPU seconds spent by `feast serve` on ``port`` (gunicorn's master and its forked workers)."""
    flag = str(port)
    server = [p for p in psutil.process_iter(["cmdline"]) if "serve" in (p.info["cmdline"] or []) and flag in p.info["cmdline"]]
    assert server, f"no feast serve process on port {port}"

    def seconds() -> float:
        processes = {q.pid: q for p in server for q in (p, *p.children(recursive=True))}
        return sum(t.user + t.system for t in (q.cpu_times() for q in processes.values()))

    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement (default 300)")
    parser.add_argument("--customers", type=int, default=200, help="customers in the generated data (default 200)")
    args = parser.parse_args()
    raw = generate_raw(args.customers * 20, seed=7, customers=args.customers)
    rng = np.random.default_rng(3)
    customers = rng.choice(sorted(raw[repo.JOIN_KEY].unique()), args.requests).tolist()
    txn = [{repo.AMOUNT: float(rng.uniform(5, 500)), repo.LATITUDE: float(rng.uniform(30, 45)),
            repo.LONGITUDE: float(rng.uniform(-110, -80))} for _ in customers]
    lookups = [{"features": [*repo.DERIVED_REFS, repo.FRESHNESS_REF],
                "entities": {repo.JOIN_KEY: [c], **{k: [t[k]] for k in repo.REQUEST_FIELDS}}} for c, t in zip(customers, txn, strict=True)]
    direct = [{"inputs": [{"name": "features", "shape": [1, len(FEATURES)], "datatype": "FP64",
                           "data": rng.uniform(0, 5, len(FEATURES)).round(3).tolist()}]} for _ in customers]
    via = [{"inputs": [{"name": f, "shape": [1], "datatype": "INT64" if f == repo.JOIN_KEY else "FP64",
                        "data": [int(c) if f == repo.JOIN_KEY else (t[f] if f in t else 1.0)]} for f in transformer.FIELDS]}
           for c, t in zip(customers, txn, strict=True)]
    os.environ[repo.POSTGRES_PASSWORD_ENV] = PASSWORD
    with local.postgres(PASSWORD) as pg:
        root = tempfile.mkdtemp(prefix="feast-bench-")
        config = repo.feature_store_yaml(root, repo.online_store("postgres", host=pg["host"], port=pg["port"], sslmode="disable"))
        feature_store = store.open_store(config)
        store.apply(feature_store, root, raw)
        store.materialize(feature_store, raw[repo.TIMESTAMP].max().to_pydatetime() + timedelta(seconds=1))
        with local.feature_server(feature_store.repo_path) as features_url:
            predictor = ThreadingHTTPServer(("127.0.0.1", 0), _Predictor)
            threading.Thread(target=predictor.serve_forever, daemon=True).start()
            predictor_host = f"127.0.0.1:{predictor.server_port}"
            front = transformer.serve(transformer.Transformer("fraud", predictor_host, features_url), 0, "127.0.0.1")
            with requests.Session() as session:
                _time(session, f"{features_url}{repo.SERVER_PATH}", lookups[:20])  # warm connections
                cpu, load = _server_cpu(int(features_url.rsplit(":", 1)[1])), os.getloadavg()[0]
                spent = cpu()
                lookup = _time(session, f"{features_url}{repo.SERVER_PATH}", lookups)
                spent = (cpu() - spent) / len(lookups)
                without = _time(session, f"http://{predictor_host}/v2/models/fraud/infer", direct)
                with_t = _time(session, f"http://127.0.0.1:{front.server_port}/v2/models/fraud/infer", via)
            front.shutdown()
            predictor.shutdown()
    print(f"{args.requests} sequential single-row requests, {args.customers} customers, PostgreSQL 15 online store, "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"  online lookup (feast serve)          {_percentiles(lookup)}   server CPU {spent * 1000:5.2f} ms per lookup")
    print(f"  end-to-end without transformer       {_percentiles(without)}")
    print(f"  end-to-end with transformer          {_percentiles(with_t)}")
    print(f"  added by the transformer (p50)       {np.median(with_t) * 1000 - np.median(without) * 1000:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
