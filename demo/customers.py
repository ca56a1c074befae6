"""Serving by customer id: the demo's feature store (demo/feature_store.py, in the features environment) and the
KServe transformer (pipelines/features/transformer.py) in front of the served model, as the chart's ``transformer:``
option deploys them. A request carries ``customer_id`` and the transaction's own fields; the transformer asks the
feature server for the customer's features, the model answers.
"""

from __future__ import annotations

import json
import select
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from demo import BACKGROUND
from pipelines.features import repo, transformer
from pipelines.fraud.contract import LABEL
from pipelines.run import FEATURES_PYTHON

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FeatureStore:
    """The feature store's process (started at once: it prepares while the pipelines run) and where it logs."""

    process: subprocess.Popen[str] | None
    log: Path

    @classmethod
    def start(cls, workdir: Path, rows: int) -> FeatureStore:
        """Start it when the features environment exists (`make setup` installs it), else a store that says so."""
        log = workdir / "logs" / "feature-store.log"
        if not FEATURES_PYTHON.exists():
            return cls(None, log)
        process = subprocess.Popen([*BACKGROUND, str(FEATURES_PYTHON), "-m", "demo.feature_store", "--workdir", str(workdir / "features"),
                                    "--rows", str(rows)], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=log.open("w"))
        return cls(process, log)

    def ready(self, timeout: float = 300) -> dict[str, Any]:
        """The server's URL and facts, once it answers; raises naming the log when it stopped first."""
        if self.process is None:
            raise FileNotFoundError(f"{FEATURES_PYTHON} is missing: run `make setup` for the features environment")
        assert self.process.stdout is not None
        answered, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not answered:
            raise TimeoutError(f"the feature store did not serve within {timeout:.0f} s; its log: {self.log}")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the feature store stopped before it served (exit {self.process.poll()}); its log: {self.log}")
        return json.loads(line)


def transactions(raw: pd.DataFrame, customers: int = 3) -> list[dict[str, Any]]:
    """New transactions of known customers: for each, an everyday one (near home, their usual amount, chip and PIN) and
    an unusual one (far away, ten times their median, online, no chip)."""
    history = raw.groupby(repo.JOIN_KEY).agg(median=(repo.AMOUNT, "median"), latitude=(repo.LATITUDE, "median"),
                                            longitude=(repo.LONGITUDE, "median"), count=(repo.AMOUNT, "size"))
    chosen = history[history["count"] >= 5].head(customers)
    out = []
    for customer, row in chosen.iterrows():
        base = {repo.JOIN_KEY: int(customer), "repeat_retailer": 1}
        out.append({**base, "kind": "everyday", repo.AMOUNT: round(float(row["median"]), 2), repo.LATITUDE: float(row["latitude"]),
                    repo.LONGITUDE: float(row["longitude"]), "used_chip": 1, "used_pin_number": 1, "online_order": 0})
        out.append({**base, "kind": "unusual", repo.AMOUNT: round(float(row["median"]) * 10, 2),
                    repo.LATITUDE: float(row["latitude"]) + 9.0, repo.LONGITUDE: float(row["longitude"]) - 12.0,
                    "used_chip": 0, "used_pin_number": 0, "online_order": 1})
    return out


def v2_by_customer(items: list[dict[str, Any]]) -> dict[str, Any]:
    """One V2 request with a column per field the transformer reads."""
    return {"inputs": [{"name": name, "shape": [len(items)], "datatype": "INT64" if name == repo.JOIN_KEY else "FP64",
                        "data": [item[name] for item in items]} for name in transformer.FIELDS]}


def serve_by_customer(store: FeatureStore, model_name: str, predictor: str, say) -> dict[str, Any]:
    """The transformer in front of ``predictor`` (host:port); requests by customer id; what each answered."""
    facts = store.ready()
    server = transformer.serve(transformer.Transformer(model_name, predictor, facts["url"]), 0, "127.0.0.1")
    url = f"http://127.0.0.1:{server.server_port}/v2/models/{model_name}/infer"
    try:
        raw = pd.read_parquet(facts["raw"])
        items = transactions(raw)
        began = time.perf_counter()
        response = requests.post(url, json=v2_by_customer(items), timeout=30)
        elapsed_ms = (time.perf_counter() - began) * 1000
        response.raise_for_status()
        answer = response.json()
        outputs = {output["name"]: output["data"] for output in answer["outputs"]}
        parameters = answer["parameters"]
        rows = []
        for index, item in enumerate(items):
            row = {**item, "features": dict(zip(parameters["features"], parameters["feature_vectors"][index], strict=True)),
                   "probability": outputs[f"{LABEL}_probability"][index], "decision": outputs[f"{LABEL}_decision"][index],
                   "feature_age_seconds": parameters["feature_age_seconds"][index]}
            rows.append(row)
            derived = ", ".join(f"{name} {row['features'][name]:.2f}" for name in repo.DERIVED)
            say(f"customer {item[repo.JOIN_KEY]} ({item['kind']}, {item[repo.AMOUNT]:.2f}): {derived} -> fraud probability "
                f"{row['probability']:.3f}, decision {row['decision']} (aggregates as of the customer's last transaction, "
                f"{row['feature_age_seconds'] / 3600:.1f} h ago)")
        unknown_id = int(raw[repo.JOIN_KEY].max()) + 1
        unknown = requests.post(url, json=v2_by_customer([{**items[0], repo.JOIN_KEY: unknown_id}]), timeout=30)
        malformed = requests.post(url, json={"inputs": [{"name": repo.JOIN_KEY, "data": [1]}]}, timeout=30)
        say(f"unknown customer -> HTTP {unknown.status_code}: {unknown.text[:110]}")
        say(f"malformed request -> HTTP {malformed.status_code}: {malformed.text[:110]}")
        materialized = datetime.fromisoformat(facts["materialized_at"])
        say(f"online store: {facts['customers']} customers materialized at {materialized:%H:%M:%S} UTC, newest event "
            f"{facts['newest_event']}; {len(items)} transactions in one request, {elapsed_ms:.0f} ms through the transformer")
        return {"rows": rows, "request_ms": elapsed_ms, "unknown_status": unknown.status_code, "unknown_body": unknown.text[:300],
                "malformed_status": malformed.status_code, "customers": facts["customers"],
                "materialized_at": facts["materialized_at"], "newest_event": facts["newest_event"],
                "freshness_seconds": (datetime.now(UTC) - materialized).total_seconds()}
    finally:
        server.shutdown()
