"""The synthetic data generator, the data contract and the ingest step (local and S3)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from pathlib import Path

import boto3
import pandas as pd
import pytest
from kfp import dsl

from pipelines.fraud import components, contract
from pipelines.fraud.data import generate

ROOT = Path(__file__).resolve().parents[2]


def test_generator_is_deterministic_and_realistic() -> None:
    """Same seed, same data; fraud rate within 1-5 %; the public data set's columns."""
    first, second = generate(20_000, seed=3), generate(20_000, seed=3)
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(generate(20_000, seed=4))
    assert list(first.columns) == contract.PUBLIC_COLUMNS
    assert 0.01 <= first[contract.LABEL].mean() <= 0.05


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    """A small generated data file (the ingest tests need no demo run)."""
    path = tmp_path / "fraud.csv"
    generate(500, seed=11).to_csv(path, index=False)
    return path


def test_generator_refuses_nonsense() -> None:
    """A non-positive row count is refused with a clear message."""
    with pytest.raises(ValueError, match="rows must be positive, got 0"):
        generate(0)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[\w,-]+\])?==([^\s;\\]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    return pins


def test_step_image_packages_are_locked_and_installed_here() -> None:
    """Every step-image pin is in the steps lock, the steps lock agrees with the ML lock, and this environment has those versions."""
    wanted = _pins(ROOT / "requirements" / "steps.txt")
    steps, ml = _pins(ROOT / "requirements" / "steps.lock"), _pins(ROOT / "requirements" / "ml.lock")
    assert wanted and all(steps.get(name) == version for name, version in wanted.items()), "run make lock"
    assert {name: version for name, version in steps.items() if ml.get(name) != version} == {}, "run make lock"
    for name, version in wanted.items():
        assert importlib.metadata.version(name) == version, f"{name}: installed {importlib.metadata.version(name)}, locked {version}"


def test_every_lock_pins_exact_versions_with_hashes() -> None:
    """Each lock file pins every package exactly and carries its hashes (pip/uv --require-hashes)."""
    for lock in sorted((ROOT / "requirements").glob("*.lock")):
        text = lock.read_text()
        entries = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
        assert entries, lock
        assert all("==" in line for line in entries), lock
        assert text.count("--hash=sha256:") >= len(entries), f"{lock.name}: an entry has no hash"
        source = lock.with_suffix(".txt")
        for name, version in _pins(source).items():
            assert _pins(lock).get(name) == version, f"{lock.name} does not hold {name}=={version} of {source.name}: run make lock"


def test_ingest_local_records_rows_and_hash(tmp_path: Path, small_csv: Path) -> None:
    """ingest copies the file, counts rows and records its sha256 for lineage."""
    raw = dsl.Dataset(uri=str(tmp_path / "raw.csv"))
    status, rows, digest = components.ingest.python_func(data_uri=str(small_csv), s3_endpoint_url="", raw=raw)
    assert status == "ready"
    assert rows == len(pd.read_csv(small_csv))
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and raw.metadata["sha256"] == digest
    assert Path(raw.path).read_bytes() == small_csv.read_bytes()


def test_ingest_without_data_yet_reports_it_and_does_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """No file at the data path yet: status "missing" and one "NO DATA YET" line naming where, not an error."""
    status, rows, digest = components.ingest.python_func(
        data_uri="/nowhere/fraud.csv", s3_endpoint_url="", raw=dsl.Dataset(uri=str(tmp_path / "r"))
    )
    assert (status, rows, digest) == ("missing", 0, "")
    assert "NO DATA YET: nothing at /nowhere/fraud.csv" in capsys.readouterr().out


def test_ingest_from_s3_endpoint(tmp_path: Path, small_csv: Path, s3_endpoint: str) -> None:
    """ingest reads s3:// through boto3 with a configurable endpoint (MinIO-style), here moto's server."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket="mlp-data")
    client.put_object(Bucket="mlp-data", Key="fraud/v1.csv", Body=small_csv.read_bytes())
    raw = dsl.Dataset(uri=str(tmp_path / "raw.csv"))
    status, rows, _ = components.ingest.python_func(data_uri="s3://mlp-data/fraud/v1.csv", s3_endpoint_url=s3_endpoint, raw=raw)
    assert (status, rows) == ("ready", len(pd.read_csv(small_csv)))
    assert raw.metadata["source"] == "s3://mlp-data/fraud/v1.csv"
    missing = components.ingest.python_func(data_uri="s3://mlp-data/fraud/latest.csv", s3_endpoint_url=s3_endpoint,
                                            raw=dsl.Dataset(uri=str(tmp_path / "none.csv")))
    assert missing[0] == "missing"


def test_contract_parameter_is_json() -> None:
    """The contract travels as a JSON pipeline parameter."""
    parameter = contract.as_parameter()
    assert json.loads(json.dumps(parameter)) == parameter
    assert parameter["label"] == "fraud" and parameter["allow_extra_columns"] is False


@pytest.mark.parametrize(("body", "rows"), [(b"a,b\n1,2\n3,4\n", 2), (b"a,b\n1,2\n3,4", 2), (b"\na,b\r\n1,2\r\n\r\n3,4\r\n\n", 2),
                                            (b"a,b\n", 0), (b"", 0)])
def test_ingest_counts_data_rows_without_holding_the_file(tmp_path: Path, body: bytes, rows: int) -> None:
    """ingest streams the file (copy, hash, count): rows are its non-empty lines after the header, CRLF or not."""
    source = tmp_path / "in.csv"
    source.write_bytes(body)
    raw = dsl.Dataset(uri=str(tmp_path / "raw.csv"))
    status, counted, digest = components.ingest.python_func(data_uri=str(source), s3_endpoint_url="", raw=raw)
    assert (status, counted) == ("ready", rows)
    assert Path(raw.path).read_bytes() == body and digest == hashlib.sha256(body).hexdigest()
