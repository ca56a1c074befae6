"""The training run's feature_source is checked in its first step (issue 27 item 4): a misspelt source fails the run in
one line instead of silently taking the file branch, and both pipelines hand the parameter to that step."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kfp import dsl

from pipelines import compile as compile_module
from pipelines.features import repo
from pipelines.fraud import components


def test_ingest_refuses_an_unknown_feature_source(tmp_path: Path) -> None:
    """ingest raises one ValueError line naming the bad value and the allowed ones, before reading any data."""
    data = tmp_path / "fraud.csv"
    data.write_text("amount,fraud\n1.0,0\n")
    with pytest.raises(ValueError, match=r"^feature_source 'feest' is not one of file, feast: set the run's feature_source") as error:
        components.ingest.python_func(data_uri=str(data), s3_endpoint_url="", raw=dsl.Dataset(uri=str(tmp_path / "raw")),
                                      feature_source="feest")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "raw").exists(), "nothing is ingested for a refused run"


@pytest.mark.parametrize("source", repo.FEATURE_SOURCES)
def test_ingest_accepts_each_feature_source(tmp_path: Path, source: str) -> None:
    """Both allowed sources ingest the data as before."""
    data = tmp_path / "fraud.csv"
    data.write_text("amount,fraud\n1.0,0\n2.0,1\n")
    status, rows, _ = components.ingest.python_func(data_uri=str(data), s3_endpoint_url="",
                                                    raw=dsl.Dataset(uri=str(tmp_path / "raw")), feature_source=source)
    assert (status, rows) == ("ready", 2)


def test_every_pipeline_hands_its_feature_source_to_ingest(tmp_path: Path) -> None:
    """The training pipelines pass their feature_source parameter to ingest; drift declares it and passes it (with
    feature_store) to the training it nests, so its retraining reads the rows the way the schedule does."""
    compiled = {path.stem: next(yaml.safe_load_all(path.read_text())) for path in compile_module.compile_all(tmp_path)}
    for name, spec in compiled.items():
        tasks = {n: t for c in [spec["root"], *spec["components"].values()] for n, t in c.get("dag", {}).get("tasks", {}).items()}
        ingest = tasks["ingest"]["inputs"]["parameters"]["feature_source"]
        assert set(spec["root"]["inputDefinitions"]["parameters"]) >= {"feature_source", "feature_store"}, name
        if name == "model-drift":
            nested = next(t for t in tasks.values() if t["componentRef"]["name"].startswith("comp-fraud-detection-training"))
            for key in ("feature_source", "feature_store"):
                # Inside the retraining condition the drift parameter arrives as its pipeline channel.
                assert nested["inputs"]["parameters"][key]["componentInputParameter"].removeprefix("pipelinechannel--") == key
        assert ingest == {"componentInputParameter": "feature_source"}, name
