"""The AWS stacks' online store, DynamoDB, for real (moto's server): materialize writes Feast's table under the name
the program creates (repo.DYNAMODB_TABLE), and what the online store gives back equals the offline values."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from pipelines.features import repo, store
from pipelines.mlflow_server import free_port

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def dynamodb(tmp_path_factory) -> Iterator[str]:
    """moto's server (a real HTTP DynamoDB API) and the fake credentials Feast's boto3 client signs with."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/moto-api/", timeout=2)
                break
            except requests.RequestException:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture(scope="module")
def materialized(dynamodb: str, raw, tmp_path_factory) -> dict:
    """The repository applied on a local bucket and materialized into DynamoDB (the AWS stacks' online block)."""
    root = str(tmp_path_factory.mktemp("bucket"))
    config = repo.feature_store_yaml(root, repo.online_store("dynamodb", region=REGION, endpoint_url=dynamodb))
    feature_store = store.open_store(config)
    aggregates = store.apply(feature_store, root, raw)
    end = raw[repo.TIMESTAMP].max().to_pydatetime() + timedelta(seconds=1)
    store.materialize(feature_store, end)
    return {"store": feature_store, "aggregates": aggregates, "end": end}


def test_materialize_writes_the_table_the_program_creates(materialized: dict, dynamodb: str) -> None:
    """Feast's DynamoDB table is repo.DYNAMODB_TABLE (the name the program creates and scopes IRSA to), keyed entity_id."""
    import boto3

    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=dynamodb)
    assert repo.DYNAMODB_TABLE in client.list_tables()["TableNames"]
    table = client.describe_table(TableName=repo.DYNAMODB_TABLE)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "entity_id", "KeyType": "HASH"}]
    assert table["ItemCount"] or client.scan(TableName=repo.DYNAMODB_TABLE, Select="COUNT")["Count"] > 0


def test_online_aggregates_equal_the_offline_ones(materialized: dict, raw) -> None:
    """Every customer's online aggregates (read back from DynamoDB) equal its latest offline row."""
    offline = (materialized["aggregates"].sort_values(repo.TIMESTAMP).groupby(repo.JOIN_KEY).tail(1)
               .set_index(repo.JOIN_KEY).sort_index())
    customers = [int(c) for c in offline.index]
    features = [f"{repo.AGGREGATES_VIEW}:{name}" for name in repo.AGGREGATES]
    online = (materialized["store"].get_online_features(features=features, entity_rows=[{repo.JOIN_KEY: c} for c in customers])
              .to_df().set_index(repo.JOIN_KEY).sort_index())
    assert len(online) == len(customers) > 10
    for name in repo.AGGREGATES:
        want, got = offline[name], online[name]
        if name == "last_transaction_at":
            # Feast's UnixTimestamp is whole seconds (ValueProto unix_timestamp_val): the online value is floored.
            want, got = pd.to_datetime(want, utc=True).dt.floor("s"), pd.to_datetime(got, utc=True)
            assert (want == got).all(), (name, want[want != got].head(3), got[want != got].head(3))
        else:
            np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=0, atol=1e-9, err_msg=name)


def test_online_request_features_equal_the_offline_ones(materialized: dict, raw) -> None:
    """The on-demand view over DynamoDB's aggregates gives the point-in-time join's features for a new transaction."""
    customers = sorted(raw[repo.JOIN_KEY].unique())[:6]
    at = pd.Timestamp(materialized["end"]) + timedelta(minutes=5)
    new = pd.DataFrame({repo.JOIN_KEY: customers, repo.TIMESTAMP: at, repo.AMOUNT: [12.5, 80.0, 450.0, 3.2, 999.0, 61.0],
                        repo.LATITUDE: 40.0, repo.LONGITUDE: -100.0, "repeat_retailer": 1, "used_chip": 0,
                        "used_pin_number": 0, "online_order": 1, "fraud": 0})
    offline = store.historical(materialized["store"], new).set_index(repo.JOIN_KEY).sort_index()
    rows = new[[repo.JOIN_KEY, *repo.REQUEST_FIELDS]].to_dict("records")
    online = (materialized["store"].get_online_features(features=list(repo.DERIVED_REFS), entity_rows=rows)
              .to_df().set_index(repo.JOIN_KEY).sort_index())
    assert len(offline) == len(online) == len(customers)
    np.testing.assert_allclose(online[list(repo.DERIVED)].to_numpy(float), offline[list(repo.DERIVED)].to_numpy(float),
                               rtol=0, atol=1e-9)
