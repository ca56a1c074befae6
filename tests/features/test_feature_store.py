"""The feature store's proof: no train/serve skew, no leakage, the transformer's answers, a real online store."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import requests

from pipelines.features import repo, store, transformer, transforms
from pipelines.fraud.contract import FEATURES, LABEL
from pipelines.fraud.data import engineered


def _request(rows: list[dict]) -> dict:
    fields = transformer.FIELDS
    return {"inputs": [{"name": f, "shape": [len(rows)], "datatype": "INT64" if f == repo.JOIN_KEY else "FP64",
                        "data": [row[f] for row in rows]} for f in fields]}


def _new_transactions(raw: pd.DataFrame, end) -> pd.DataFrame:
    """One new transaction per known customer, an hour after the data ends."""
    customers = sorted(raw[repo.JOIN_KEY].unique())[:8]
    rng = np.random.default_rng(1)
    return pd.DataFrame({repo.JOIN_KEY: customers, repo.TIMESTAMP: pd.Timestamp(end) + timedelta(hours=1),
                         repo.AMOUNT: rng.uniform(5, 900, len(customers)).round(2), repo.LATITUDE: rng.uniform(30, 45, len(customers)),
                         repo.LONGITUDE: rng.uniform(-110, -80, len(customers)), "repeat_retailer": 1, "used_chip": 0,
                         "used_pin_number": 0, "online_order": 1, LABEL: 0})


def _skew(applied: dict, transformer_url: str, new: pd.DataFrame) -> float:
    offline = store.historical(applied["store"], new)[FEATURES].to_numpy()
    response = requests.post(transformer_url, json=_request(new.to_dict("records")), timeout=10)
    assert response.status_code == 200, response.text
    online = np.asarray(response.json()["parameters"]["feature_vectors"])
    assert offline.shape == online.shape == (len(new), len(FEATURES))
    return float(np.abs(offline - online).max())


def test_offline_vector_equals_the_transformers_online_vector(applied: dict, transformer_url: str, raw) -> None:
    """Skew: for the same customer and time, get_historical_features' vector == the transformer's from the online store."""
    assert _skew(applied, transformer_url, _new_transactions(raw, applied["end"])) == 0.0


def test_skew_check_catches_a_transformer_that_orders_features_differently(applied: dict, transformer_url: str, raw,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The skew test can fail: a transformer assembling the vector in another order than training is caught."""
    monkeypatch.setattr(transformer, "FEATURES", list(reversed(FEATURES)))
    assert _skew(applied, transformer_url, _new_transactions(raw, applied["end"])) > 0.0


def _leak(raw: pd.DataFrame, tmp_path) -> float:
    """Largest change of the features of any training row earlier than a planted row (a huge purchase far away, a
    minute after each customer's first training row); rows after it rightly see it and are not compared."""
    config = repo.feature_store_yaml(str(tmp_path), {"type": "sqlite", "path": str(tmp_path / "online.db")})
    feature_store = store.open_store(config)
    store.apply(feature_store, str(tmp_path), raw)
    before = store.historical(feature_store, raw)
    targets = before.groupby(repo.JOIN_KEY).head(1)
    planted = raw[raw[repo.JOIN_KEY].isin(targets[repo.JOIN_KEY])].groupby(repo.JOIN_KEY).head(2).groupby(repo.JOIN_KEY).tail(1)
    planted = planted.assign(**{repo.TIMESTAMP: planted[repo.TIMESTAMP] + timedelta(minutes=1), repo.AMOUNT: 49_000.0,
                                repo.LATITUDE: -33.9, repo.LONGITUDE: 151.2})
    store.apply(feature_store, str(tmp_path), pd.concat([raw, planted], ignore_index=True))
    after = store.historical(feature_store, raw)
    merged = before.merge(after, on=[repo.JOIN_KEY, repo.TIMESTAMP], suffixes=("", "_after"))
    assert len(merged) == len(before)
    planted_at = merged[repo.JOIN_KEY].map(planted.set_index(repo.JOIN_KEY)[repo.TIMESTAMP])
    merged = merged[planted_at.isna() | (merged[repo.TIMESTAMP] < planted_at)]
    assert set(targets[repo.TIMESTAMP]) <= set(merged[repo.TIMESTAMP]), "the rows just before the plants are compared"
    return max(float(np.abs(merged[n] - merged[f"{n}_after"]).max()) for n in FEATURES)


def test_a_planted_future_row_never_changes_a_training_rows_features(raw, tmp_path) -> None:
    """Leakage: the point-in-time join reads each row's features as of just before it, so later rows change nothing."""
    assert _leak(raw, tmp_path) == 0.0


def test_leakage_check_catches_a_join_that_reads_the_future(raw, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The leakage test can fail: features read as of two minutes after the transaction pick up the planted row."""
    monkeypatch.setattr(transforms, "as_of", lambda timestamps: timestamps + pd.Timedelta(minutes=2))
    assert _leak(raw, tmp_path) > 0.0


def test_the_generators_engineered_columns_are_the_point_in_time_joins(applied: dict, raw) -> None:
    """One implementation: the generator's engineered columns equal get_historical_features' for every row with history."""
    offline = store.historical(applied["store"], raw).set_index([repo.JOIN_KEY, repo.TIMESTAMP])[FEATURES]
    mine = engineered(raw).assign(**{repo.JOIN_KEY: raw[repo.JOIN_KEY],
                                     repo.TIMESTAMP: raw[repo.TIMESTAMP]}).dropna()
    mine = mine.set_index([repo.JOIN_KEY, repo.TIMESTAMP])[FEATURES].loc[offline.index]
    assert len(offline) == len(raw) - raw[repo.JOIN_KEY].nunique()
    np.testing.assert_array_equal(offline.to_numpy(), mine.to_numpy())


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"{not json", 400, "not JSON"),
    ({"inputs": [{"name": "customer_id", "data": [1]}]}, 400, "are missing"),
    ("flag", 400, "card flags are 0 or 1"),
    ("unknown", 404, "customer_id 999999 has no history"),
])
def test_transformer_answers_bad_requests_with_4xx(transformer_url: str, raw, applied: dict, body, status, message) -> None:
    """A malformed request gets 400 and an unknown customer 404, each with one line saying why; never a 500."""
    row = _new_transactions(raw, applied["end"]).to_dict("records")[0]
    if body == "flag":
        body = _request([{**row, "used_chip": 3}])
    elif body == "unknown":
        body = _request([{**row, repo.JOIN_KEY: 999999}])
    response = requests.post(transformer_url, **({"data": body} if isinstance(body, bytes) else {"json": body}), timeout=10)
    assert (response.status_code, message in response.json()["error"]) == (status, True), response.text


def test_transformer_answers_503_when_the_feature_server_is_unreachable(predictor: str, raw, applied: dict) -> None:
    """The store (its server) unreachable -> 503 naming it, never a 500."""
    from pipelines.mlflow_server import free_port

    server = transformer.serve(transformer.Transformer("fraud", predictor, f"http://127.0.0.1:{free_port()}"), 0, "127.0.0.1")
    try:
        row = _new_transactions(raw, applied["end"]).to_dict("records")[0]
        response = requests.post(f"http://127.0.0.1:{server.server_port}/v2/models/fraud/infer", json=_request([row]), timeout=10)
        assert response.status_code == 503 and "feature server" in response.json()["error"], response.text
    finally:
        server.shutdown()
