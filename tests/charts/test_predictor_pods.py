"""The predictor pods: high UIDs and GIDs, the canary's pod fields written out like the stable predictor's, the
start command the image allows under them, the request body limit handed to the runtime the model carries, and
MLServer's adaptive batching in its own process."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.charts.conftest import CHART, by_kind, render

# The pod-level fields the chart writes on every predictor (model-serving.podSecurity in _helpers.tpl).
POD_FIELDS = ("serviceAccountName", "automountServiceAccountToken", "hostNetwork", "hostPID", "hostIPC", "securityContext", "volumes")
HIGH_ID = 10000


def predictors(isvc: dict) -> dict[str, dict]:
    """The stable predictor and every canary's, by name."""
    found = {"stable": isvc["spec"]["predictor"]}
    found |= {canary["predictor"]["name"]: canary["predictor"] for canary in isvc["spec"].get("canary", [])}
    return found


def test_every_predictor_runs_with_high_ids(rendered: dict[str, list[dict]]) -> None:
    """Pod and container UIDs, the GID and fsGroup are 10000 or more on every predictor of every scenario (checkov CKV_K8S_40)."""
    for scenario, objects in rendered.items():
        (isvc,) = by_kind(objects, "InferenceService")
        for name, predictor in predictors(isvc).items():
            pod = predictor["securityContext"]
            ids = {key: pod[key] for key in ("runAsUser", "runAsGroup", "fsGroup")} | {"container runAsUser": predictor["model"]["securityContext"]["runAsUser"]}
            low = {key: value for key, value in ids.items() if value < HIGH_ID}
            assert low == {}, (scenario, name, low)


def test_canary_carries_the_stable_predictors_pod_fields(rendered: dict[str, list[dict]]) -> None:
    """The canary predictor writes out the same pod security fields and volumes as the stable one (no reliance on KServe's copy)."""
    (isvc,) = by_kind(rendered["canary"], "InferenceService")
    stable, canary = isvc["spec"]["predictor"], isvc["spec"]["canary"][0]["predictor"]
    for field in POD_FIELDS:
        assert field in canary, f"the canary predictor lacks {field}"
        assert canary[field] == stable[field], field
    assert canary["model"]["securityContext"] == stable["model"]["securityContext"]


def test_mlserver_starts_from_the_writable_scratch_folder(rendered: dict[str, list[dict]]) -> None:
    """The model container runs `mlserver start /mnt/models` from a writable emptyDir, not the image's /opt/mlserver."""
    for scenario, objects in rendered.items():
        (isvc,) = by_kind(objects, "InferenceService")
        for name, predictor in predictors(isvc).items():
            model = predictor["model"]
            assert model["command"] == ["mlserver", "start", "/mnt/models"], (scenario, name)
            mounts = {mount["mountPath"]: mount["name"] for mount in model["volumeMounts"]}
            volumes = {volume["name"]: volume for volume in predictor["volumes"]}
            assert "emptyDir" in volumes[mounts[model["workingDir"]]], (scenario, name, model["workingDir"])


@pytest.mark.parametrize("limit", [4096, 1048576])
def test_body_limit_reaches_the_runtime_and_grpc(limit: int) -> None:
    """model.maxRequestBytes becomes the runtime's `extra.max_request_bytes` and MLServer's gRPC limit, on every predictor."""
    (isvc,) = by_kind(render(CHART / "ci" / "canary-values.yaml", sets=(f"model.maxRequestBytes={limit}",)), "InferenceService")
    for name, predictor in predictors(isvc).items():
        env = {item["name"]: item["value"] for item in predictor["model"]["env"]}
        assert json.loads(env["MLSERVER_MODEL_EXTRA"]) == {"max_request_bytes": limit}, name
        assert env["MLSERVER_GRPC_MAX_MESSAGE_LENGTH"] == str(limit), name



@pytest.mark.parametrize("sets", [(), ("model.batching.maxBatchSize=16", "model.batching.maxBatchTime=1")])
def test_batching_reaches_every_predictor_in_mlservers_process(sets: tuple[str, ...]) -> None:
    """model.batching becomes MLServer's max_batch_size/max_batch_time env, with no worker pool, on every predictor."""
    batching = yaml.safe_load((CHART / "values.yaml").read_text())["model"]["batching"]
    batching |= {item.split("=")[0].rsplit(".", 1)[1]: int(item.split("=")[1]) for item in sets}
    (isvc,) = by_kind(render(CHART / "ci" / "canary-values.yaml", sets=sets), "InferenceService")
    for name, predictor in predictors(isvc).items():
        env = {item["name"]: item["value"] for item in predictor["model"]["env"]}
        assert env["MLSERVER_MODEL_MAX_BATCH_SIZE"] == str(batching["maxBatchSize"]), name
        assert float(env["MLSERVER_MODEL_MAX_BATCH_TIME"]) == float(batching["maxBatchTime"]), name
        assert env["MLSERVER_PARALLEL_WORKERS"] == "0", name


def test_priority_class_reaches_every_predictor() -> None:
    """priorityClassName lands on the stable and the canary predictor (the platform's values give mlplatform-serving);
    unset, neither names one (the cluster's default)."""
    canary = CHART / "ci" / "canary-values.yaml"
    (isvc,) = by_kind(render(canary, sets=("priorityClassName=mlplatform-serving",)), "InferenceService")
    assert {name: p.get("priorityClassName") for name, p in predictors(isvc).items()} == dict.fromkeys(predictors(isvc), "mlplatform-serving")
    (isvc,) = by_kind(render(canary), "InferenceService")
    assert all("priorityClassName" not in p for p in predictors(isvc).values())
