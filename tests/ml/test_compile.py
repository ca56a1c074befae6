"""Compiling the pipelines with the real KFP compiler."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines import compile as compile_module
from pipelines.fraud import components


def test_every_pipeline_compiles_and_the_committed_yaml_is_fresh(tmp_path: Path) -> None:
    """Each pipeline compiles, and pipelines/compiled/ holds exactly that output (run `make compile` if not)."""
    written = compile_module.compile_all(tmp_path)
    assert written
    for path in written:
        committed = compile_module.COMPILED / path.name
        assert committed.exists(), f"{committed} missing: run make compile"
        # Compare the IR, not the text: the header comment lists dict defaults in
        # protobuf map order, which varies between processes.
        assert list(yaml.safe_load_all(committed.read_text())) == list(yaml.safe_load_all(path.read_text())), (
            f"{committed} is stale: run make compile"
        )
    assert sorted(p.name for p in compile_module.COMPILED.glob("*.yaml")) == sorted(p.name for p in written)


def test_compiled_pipeline_structure(tmp_path: Path) -> None:
    """The IR has the seven steps plus the gated promote, pinned images, and no latest tags."""
    (path,) = compile_module.compile_all(tmp_path)
    spec, _platform = yaml.safe_load_all(path.read_text())  # the IR, then its Kubernetes platform spec
    tasks = spec["root"]["dag"]["tasks"]
    assert {"ingest", "validate", "split", "train", "evaluate", "gate", "register", "condition-1"} <= set(tasks)
    assert tasks["condition-1"]["triggerPolicy"]["condition"].endswith("== 'promote'")
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {components.BASE_IMAGE}
    assert not any(image.endswith(":latest") for image in images)
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert {"data_uri", "tracking_uri", "min_improvement", "auc_floor", "param_grid", "contract"} <= set(parameters)
