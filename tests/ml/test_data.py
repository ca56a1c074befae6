"""The synthetic data generator, the data contract and the ingest step (local and S3)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pandas as pd
import pytest
from kfp import dsl

from pipelines.fraud import components, contract
from pipelines.fraud.data import generate
from pipelines.mlflow_server import free_port, stop

ROOT = Path(__file__).resolve().parents[2]


def test_generator_is_deterministic_and_realistic() -> None:
    """Same seed, same data; fraud rate within 1-5 %; columns in contract order."""
    first, second = generate(20_000, seed=3), generate(20_000, seed=3)
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(generate(20_000, seed=4))
    assert list(first.columns) == list(contract.COLUMNS)
    assert 0.01 <= first[contract.LABEL].mean() <= 0.05


def test_generated_data_meets_the_contract(tmp_path: Path) -> None:
    """The validate step accepts generated data."""
    raw = tmp_path / "raw.csv"
    generate(3000, seed=5).to_csv(raw, index=False)
    validated = dsl.Dataset(uri=str(tmp_path / "validated.csv"))
    components.validate.python_func(
        raw=dsl.Dataset(uri=str(raw)), contract=contract.as_parameter(), min_rows=1000, min_positives=20,
        max_null_fraction=0.0, validated=validated,
    )
    assert validated.metadata["rows"] == 3000 and validated.metadata["positives"] > 20


def test_generator_refuses_nonsense() -> None:
    """A non-positive row count is refused with a clear message."""
    with pytest.raises(ValueError, match="rows must be positive, got 0"):
        generate(0)


def test_step_packages_match_the_environment() -> None:
    """The step image's pinned packages are the versions installed here (so local runs match the cluster)."""
    for pin in components.PACKAGES:
        name, version = pin.split("==")
        assert importlib.metadata.version(name) == version, pin
    requirements = (ROOT / "requirements" / "ml.txt").read_text()
    for pin in components.PACKAGES:
        name, version = pin.split("==")
        # An extra (mlflow[auth]: the server's basic auth) pins the same distribution.
        exact = rf"^{re.escape(name)}(\[[\w,-]+\])?=={re.escape(version)}\s*$"
        assert re.search(exact, requirements, re.MULTILINE), f"{pin} not pinned in requirements/ml.txt"


def test_ingest_local_records_rows_and_hash(tmp_path: Path, fraud_csv: Path) -> None:
    """ingest copies the file, counts rows and records its sha256 for lineage."""
    raw = dsl.Dataset(uri=str(tmp_path / "raw.csv"))
    rows, digest = components.ingest.python_func(data_uri=str(fraud_csv), s3_endpoint_url="", raw=raw)
    assert rows == len(pd.read_csv(fraud_csv))
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and raw.metadata["sha256"] == digest
    assert Path(raw.path).read_bytes() == fraud_csv.read_bytes()


def test_ingest_missing_file_says_where(tmp_path: Path) -> None:
    """A missing local file fails with the path in one line."""
    with pytest.raises(FileNotFoundError, match="ingest: no data file at /nowhere/fraud.csv"):
        components.ingest.python_func(data_uri="/nowhere/fraud.csv", s3_endpoint_url="", raw=dsl.Dataset(uri=str(tmp_path / "r")))


def test_ingest_from_s3_endpoint(tmp_path: Path, fraud_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ingest reads s3:// through boto3 with a configurable endpoint (MinIO-style), here moto's server."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(key, value)
        client = boto3.client("s3", endpoint_url=endpoint)
        for _ in range(100):
            try:
                client.create_bucket(Bucket="mlp-data")
                break
            except Exception:  # noqa: BLE001 - server still starting
                time.sleep(0.1)
        client.put_object(Bucket="mlp-data", Key="fraud/v1.csv", Body=fraud_csv.read_bytes())
        raw = dsl.Dataset(uri=str(tmp_path / "raw.csv"))
        rows, _ = components.ingest.python_func(data_uri="s3://mlp-data/fraud/v1.csv", s3_endpoint_url=endpoint, raw=raw)
        assert rows == len(pd.read_csv(fraud_csv))
        assert raw.metadata["source"] == "s3://mlp-data/fraud/v1.csv"
    finally:
        stop(server)


def test_contract_parameter_is_json() -> None:
    """The contract travels as a JSON pipeline parameter."""
    parameter = contract.as_parameter()
    assert json.loads(json.dumps(parameter)) == parameter
    assert parameter["label"] == "fraud" and parameter["allow_extra_columns"] is False
