"""The GPU training option (pipeline parameter ``estimator: xgboost``): its compiled step asks for a GPU on the GPU
groups, and here, with no GPU, the same XGBoost model trains on the CPU, registers and loads like the default one."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml

from infra import gpu
from pipelines.compile import COMPILED
from pipelines.fraud import estimators
from pipelines.fraud.data import generate
from pipelines.fraud.pipeline import PIPELINE_NAME
from pipelines.mlflow_server import mlflow_server
from pipelines.run import run_pipeline

ROWS = 4000


def compiled() -> tuple[dict, dict]:
    """The committed training spec: its pipeline document and its Kubernetes platform document."""
    spec, platform = yaml.safe_load_all((COMPILED / f"{PIPELINE_NAME}.yaml").read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def branches(spec: dict) -> dict[str, dict]:
    """Every condition branch of the spec by its name (``train-on-gpu``...): its trigger condition and its tasks' executors."""
    found = {}
    for component in spec["components"].values():
        for task in component.get("dag", {}).get("tasks", {}).values():
            inner = spec["components"][task["componentRef"]["name"]]
            if "triggerPolicy" in task and "dag" in inner:
                executors = [spec["components"][t["componentRef"]["name"]].get("executorLabel") for t in inner["dag"]["tasks"].values()]
                found[task["taskInfo"]["name"]] = {"condition": task["triggerPolicy"]["condition"], "executors": executors}
    return found


def test_gpu_train_step_requests_a_gpu_on_the_gpu_groups() -> None:
    """Only the GPU branch's train step requests one nvidia.com/gpu, tolerates the GPU taint and selects the GPU groups."""
    spec, platform = compiled()
    found = branches(spec)
    (on_gpu,), (on_cpu,) = found["train-on-gpu"]["executors"], found["train-on-cpu"]["executors"]
    accelerator = spec["deploymentSpec"]["executors"][on_gpu]["container"]["resources"]["accelerator"]
    assert (accelerator["resourceType"], accelerator["resourceCount"]) == (gpu.RESOURCE, "1")
    assert platform[on_gpu]["tolerations"] == [gpu.toleration()]
    # The role key overrides workflowDefaults' role cpu in Argo's strategic merge (tests/infra/test_simulate_fit.py).
    assert platform[on_gpu]["nodeSelector"]["labels"] == {gpu.ROLE_LABEL: gpu.ROLE, **gpu.node_selector()}
    others = {name: e["container"].get("resources", {}) for name, e in spec["deploymentSpec"]["executors"].items() if name != on_gpu}
    assert all("accelerator" not in resources for resources in others.values()), others
    assert not ({on_cpu} | set(others)) & {name for name, p in platform.items() if "nodeSelector" in p or "tolerations" in p}


def test_the_gpu_branch_is_taken_by_the_gpu_estimator_only() -> None:
    """The GPU branch runs when ``estimator`` is the one estimators.GPU names, the CPU branch otherwise."""
    found = branches(compiled()[0])
    wanted = f"inputs.parameter_values['pipelinechannel--estimator'] == '{estimators.GPU}'"
    assert (found["train-on-gpu"]["condition"], found["train-on-cpu"]["condition"]) == (wanted, f"!({wanted})")


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
                              xgboost_param_grid={"learning_rate": [0.1], "max_depth": [4], "n_estimators": [60]})
        assert result.promoted, result.gate_reason
        client = mlflow.MlflowClient(tracking_uri)
        version = client.get_model_version("fraud-xgboost", result.version)
        assert (version.tags["estimator"], version.tags["device"]) == (estimators.GPU, "cpu")
        mlflow.set_tracking_uri(tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/fraud-xgboost/{result.version}")
        assert type(model.named_steps["classifier"]).__name__ == "XGBClassifier"
        requirements = Path(mlflow.artifacts.download_artifacts(f"models:/fraud-xgboost/{result.version}/requirements.txt")).read_text()
        assert f"xgboost=={estimators.framework(estimators.GPU)[1]}" in requirements.split(), requirements
