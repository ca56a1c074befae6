"""The GPU training option (pipeline fraud-detection-training-gpu, estimator xgboost): its compiled train step asks for
a GPU on the GPU groups, and here, with no GPU, the same XGBoost model trains on the CPU, registers and loads like the default."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest
import yaml

from infra import gpu
from pipelines.compile import COMPILED
from pipelines.fraud import estimators
from pipelines.fraud.data import generate
from pipelines.fraud.pipeline import GPU_PIPELINE_NAME, PIPELINE_NAME
from pipelines.mlflow_server import mlflow_server
from pipelines.run import run_pipeline

ROWS = 4000


def compiled(name: str) -> tuple[dict, dict]:
    """A committed spec: its pipeline document and its Kubernetes executors' platform config."""
    spec, platform = yaml.safe_load_all((COMPILED / f"{name}.yaml").read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def placed(platform: dict) -> set[str]:
    return {name for name, config in platform.items() if "nodeSelector" in config or "tolerations" in config}


def test_gpu_train_step_requests_a_gpu_on_the_gpu_groups() -> None:
    """The GPU pipeline's train steps alone (the file branch's and the feature store's) request one nvidia.com/gpu,
    tolerate the GPU taint and select the GPU groups."""
    spec, platform = compiled(GPU_PIPELINE_NAME)
    executors = spec["deploymentSpec"]["executors"]
    trains = {name for name in executors if re.fullmatch(r"exec-train(-\d+)?", name)}
    assert "exec-train" in trains and len(trains) == 2, sorted(executors)
    for name in trains:
        accelerator = executors[name]["container"]["resources"]["accelerator"]
        assert (accelerator["resourceType"], accelerator["resourceCount"]) == (gpu.RESOURCE, "1")
        assert platform[name]["tolerations"] == [gpu.toleration()]
        # The role key overrides workflowDefaults' role cpu in Argo's strategic merge (tests/infra/test_simulate_fit.py).
        assert platform[name]["nodeSelector"]["labels"] == {gpu.ROLE_LABEL: gpu.ROLE, **gpu.node_selector()}
    others = {name: e["container"].get("resources", {}) for name, e in executors.items() if name not in trains}
    assert all("accelerator" not in resources for resources in others.values()), others
    assert placed(platform) == trains
    assert spec["root"]["inputDefinitions"]["parameters"]["estimator"]["defaultValue"] == estimators.GPU


def test_default_pipeline_requests_no_gpu() -> None:
    """The default training pipeline keeps every step on the CPU nodes: no accelerator, no placement of its own."""
    spec, platform = compiled(PIPELINE_NAME)
    assert all("accelerator" not in e["container"].get("resources", {}) for e in spec["deploymentSpec"]["executors"].values())
    assert placed(platform) == set()
    assert spec["root"]["inputDefinitions"]["parameters"]["estimator"]["defaultValue"] == estimators.DEFAULT


def test_unknown_estimator_is_refused_in_one_line() -> None:
    """An estimator name the train step does not know is refused naming the ones there are."""
    with pytest.raises(ValueError, match=r"estimator 'lightgbm' is not one of \['hist-gradient-boosting', 'xgboost'\]"):
        estimators.classifier("lightgbm", seed=1, threads=1)


def test_xgboost_trains_on_cpu_and_registers_like_the_default(tmp_path: Path) -> None:
    """With no GPU here the XGBoost option fits on the CPU (device cpu), passes the gate, and its registered model loads."""
    assert estimators.visible_gpus() == 0, "this test checks the CPU fallback; benchmarks/gpu_training.py covers a GPU"
    data = tmp_path / "fraud.csv"
    generate(ROWS).to_csv(data, index=False)
    with mlflow_server(tmp_path / "mlflow") as tracking_uri:
        result = run_pipeline(str(data), tracking_uri, tmp_path / "kfp", echo=False, estimator=estimators.GPU,
                              model_name="fraud-xgboost", run_name="xgboost-cpu", auc_floor=0.8,
                              param_grid={"learning_rate": [0.1], "max_depth": [4], "n_estimators": [60]})
        assert result.promoted, result.gate_reason
        client = mlflow.MlflowClient(tracking_uri)
        version = client.get_model_version("fraud-xgboost", result.version)
        assert (version.tags["estimator"], version.tags["device"]) == (estimators.GPU, "cpu")
        mlflow.set_tracking_uri(tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/fraud-xgboost/{result.version}")
        assert type(model.named_steps["classifier"]).__name__ == "XGBClassifier"
        requirements = Path(mlflow.artifacts.download_artifacts(f"models:/fraud-xgboost/{result.version}/requirements.txt")).read_text()
        assert f"xgboost=={estimators.framework(estimators.GPU)[1]}" in requirements.split(), requirements
