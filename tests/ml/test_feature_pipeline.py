"""End to end through the feature store: the training pipeline with feature_source=feast, run with kfp.local on raw
transactions (`python -m pipelines.fraud.data --raw`), its feature steps running Feast in .venv-features, a real MLflow
server and Feast's SQLite online store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.features import repo
from pipelines.fraud.contract import FEATURES, LABEL
from pipelines.fraud.data import engineered
from pipelines.mlflow_server import mlflow_server
from pipelines.run import FEATURES_PYTHON, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
MODEL = "fraud-through-feast"
ONLINE = """
import json, sys, yaml
from pipelines.features import repo, store
customers = json.loads(sys.argv[2])
rows = store.open_store(yaml.safe_load(open(sys.argv[1]))).get_online_features(
    features=[f"{repo.AGGREGATES_VIEW}:{name}" for name in repo.AGGREGATES], entity_rows=[{repo.JOIN_KEY: c} for c in customers]
).to_dict()
print(json.dumps(rows, default=str))
"""


@pytest.fixture(scope="module")
def feast_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One run of the feast variant on 3000 raw transactions ending now (within the view's TTL, so they materialize)."""
    if not FEATURES_PYTHON.exists():
        if os.environ.get("MLPLATFORM_REQUIRE_UPSTREAM"):
            pytest.fail(f"{FEATURES_PYTHON} is missing: make .venv-features/.installed")
        pytest.skip(f"needs the features environment ({FEATURES_PYTHON}): make .venv-features/.installed")
    work = tmp_path_factory.mktemp("feast-pipeline")
    raw = work / "transactions.parquet"
    subprocess.run([sys.executable, "-m", "pipelines.fraud.data", "--raw", "--rows", "3000", "--end", "now", "--out", str(raw)],
                   cwd=ROOT, check=True, capture_output=True)
    config = work / "feature_store.yaml"
    config.write_text(yaml.safe_dump(repo.feature_store_yaml(str(work / "bucket"), {"type": "sqlite", "path": str(work / "online.db")})))
    with mlflow_server(work / "mlflow") as tracking_uri:
        result = run_pipeline(str(raw), tracking_uri, work / "kfp", echo=False, model_name=MODEL, min_rows=500, min_positives=10,
                              param_grid={"max_iter": [50], "learning_rate": [0.1], "max_leaf_nodes": [15]},
                              feature_source="feast", feature_store=config.read_text())
        mlflow.set_tracking_uri(tracking_uri)
        version = mlflow.MlflowClient().get_model_version(MODEL, result.version)
    (dataset,) = (work / "kfp").glob("*/training-set/dataset")
    return {"result": result, "tags": version.tags, "raw": pd.read_parquet(raw), "dataset": pd.read_csv(dataset),
            "config": config}


def test_training_rows_are_each_transactions_features_as_of_just_before_it(feast_run: dict) -> None:
    """Point-in-time: the rows the pipeline trained on (get_historical_features) equal the features computed as of
    just before each transaction (the generator's own arithmetic), label included; first transactions left out."""
    raw = feast_run["raw"]
    expected = engineered(raw).assign(**{LABEL: raw[LABEL].to_numpy()}).dropna(subset=FEATURES).reset_index(drop=True)
    got = feast_run["dataset"]
    assert list(got.columns) == [*FEATURES, LABEL]
    assert len(got) == len(expected) == len(raw) - raw[repo.JOIN_KEY].nunique()
    assert np.allclose(got[FEATURES].to_numpy(float), expected[FEATURES].to_numpy(float), rtol=1e-9, atol=1e-9)
    assert (got[LABEL].to_numpy() == expected[LABEL].to_numpy()).all()


def test_lineage_tags(feast_run: dict) -> None:
    """Lineage: the registered version is tagged feature_source=feast and feature_view.<view>=<version> for both views."""
    tags = feast_run["tags"]
    assert feast_run["result"].promoted, feast_run["result"].gate_reason
    views = {key.removeprefix(repo.LINEAGE_TAG_PREFIX): value for key, value in tags.items() if key.startswith(repo.LINEAGE_TAG_PREFIX)}
    assert tags[repo.FEATURE_SOURCE_TAG] == "feast"
    assert views == {repo.AGGREGATES_VIEW: "1", repo.REQUEST_VIEW: "1"}


def test_materialize_loaded_each_customers_latest_aggregates_online(feast_run: dict) -> None:
    """After the run the online store holds every customer's aggregates as of their last transaction."""
    raw = feast_run["raw"]
    customers = sorted(int(c) for c in raw[repo.JOIN_KEY].unique())[:10]
    read = subprocess.run([str(FEATURES_PYTHON), "-c", ONLINE, str(feast_run["config"]), json.dumps(customers)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert read.returncode == 0, read.stderr[-2000:]
    online = json.loads(read.stdout.strip().splitlines()[-1])
    last = raw.sort_values(repo.TIMESTAMP).groupby(repo.JOIN_KEY).tail(1).set_index(repo.JOIN_KEY)
    assert online["transactions_total"] == [int((raw[repo.JOIN_KEY] == c).sum()) for c in customers]
    assert online["last_latitude"] == pytest.approx([float(last.loc[c, repo.LATITUDE]) for c in customers])
