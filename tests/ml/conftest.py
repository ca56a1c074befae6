"""Fixtures for the pipeline tests: data files and a real MLflow server per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.fraud.data import generate
from pipelines.mlflow_server import mlflow_server

# Small enough to keep the suite fast, large enough for ~180 positives so the
# held-out split has a stable ROC AUC.
TEST_ROWS = 6000


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` (SQLite backend, local artifacts) on a free localhost port."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture(scope="module")
def fraud_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic fraud data set as CSV."""
    path = tmp_path_factory.mktemp("data") / "fraud.csv"
    generate(TEST_ROWS, seed=11).to_csv(path, index=False)
    return path
