"""The demo's champion served by the real MLServer with the serving chart's env: the request bounds (413, 400), the
model's V2 metadata, the chart's own example request, the decision at the threshold it was registered with, and
MLServer's adaptive batching (the chart's numbers locally too; each request still checked alone)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlserver.settings import ModelSettings

from demo.serving import Batching, ModelServer, chart_batching, model_server, outputs, prepare_model_dir, serving_env, v2_request
from pipelines.cluster import SERVING_CODE_DIR, SERVING_IMPLEMENTATION
from pipelines.fraud.contract import FEATURES, LABEL
from pipelines.fraud.pipeline import DEFAULT_MODEL_NAME
from pipelines.serving_runtime import DEFAULT_MAX_REQUEST_BYTES, output_names

pytestmark = pytest.mark.xdist_group("after-demo")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "model-serving"
PROBABILITY, DECISION = output_names(LABEL)


def chart_env() -> dict[str, str]:
    """The model container's env as the chart renders it for a model that carries its runtime (default values)."""
    rendered = subprocess.run(
        [str(ROOT / ".bin" / "helm"), "template", "fraud", str(CHART), "-n", "models",
         "--set", "model.storageUri=s3://b/mlflow/1/models/m-1/artifacts", "--set", f"model.implementation={SERVING_IMPLEMENTATION}"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    (isvc,) = [o for o in yaml.safe_load_all(rendered) if o and o["kind"] == "InferenceService"]
    return {item["name"]: item["value"] for item in isvc["spec"]["predictor"]["model"]["env"]}


@pytest.fixture(scope="module")
def champion(tracking_uri: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The champion's folder as KServe's storage initializer lays it out, and the threshold its run logged."""
    mlflow.set_tracking_uri(tracking_uri)
    work = tmp_path_factory.mktemp("champion")
    downloaded = mlflow.artifacts.download_artifacts(f"models:/{DEFAULT_MODEL_NAME}@champion", dst_path=str(work / "download"))
    version = mlflow.MlflowClient().get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion")
    threshold = mlflow.MlflowClient().get_run(version.run_id).data.metrics["threshold"]
    return prepare_model_dir(Path(downloaded), work / "mnt" / "models"), threshold


@pytest.fixture(scope="module")
def server(champion: tuple[Path, float], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """MLServer serving the champion with the chart's env (the body limit, bounded threads, the model's runtime class)."""
    mnt, _ = champion
    env = {name: value for name, value in chart_env().items() if name not in ("PYTHONPATH", "MLSERVER_MODEL_IMPLEMENTATION")}
    with model_server(mnt, "fraud-model-serving", tmp_path_factory.mktemp("logs") / "mlserver.log", runtime_env=env) as running:
        yield running


def one_line_error(response: object) -> str:
    error = response.json()["error"]
    assert error and "\n" not in error.strip(), error
    return error


def test_the_chart_default_limit_is_the_runtimes() -> None:
    """model.maxRequestBytes defaults to the runtime's own default, and the chart hands it over as MLServer's `extra`."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["model"]["maxRequestBytes"] == DEFAULT_MAX_REQUEST_BYTES
    assert json.loads(chart_env()["MLSERVER_MODEL_EXTRA"]) == {"max_request_bytes": DEFAULT_MAX_REQUEST_BYTES}


def test_a_body_over_the_limit_gets_413(server: ModelServer, fraud_csv: Path) -> None:
    """A 10.5 MB body gets 413 with one line naming the limit; a body just under the limit is served (200)."""
    rows = pd.read_csv(fraud_csv)[FEATURES].astype(float).to_numpy().tolist()
    many = (rows * (260_000 // len(rows) + 1))[:260_000]
    big = v2_request(many)
    assert len(json.dumps(big)) > 10_500_000, "the oversized body is over 10.5 MB, as in the issue"
    refused = server.infer(big, timeout=60)
    assert refused.status_code == 413, refused.text
    assert str(DEFAULT_MAX_REQUEST_BYTES) in one_line_error(refused)
    count = len(many)
    while len(json.dumps(v2_request(many[:count]))) > DEFAULT_MAX_REQUEST_BYTES:
        count = count * 19 // 20
    assert len(json.dumps(v2_request(many[:count]))) > 0.9 * DEFAULT_MAX_REQUEST_BYTES
    under = server.infer(v2_request(many[:count]), timeout=60)
    assert under.status_code == 200, under.text
    assert len(outputs(under)[DECISION]) == count


BAD_DATA = {
    "FP32 as strings": ("FP32", ["1.5"] * len(FEATURES)),
    "FP64 as booleans": ("FP64", [True, False] * (len(FEATURES) // 2) + [True] * (len(FEATURES) % 2)),
    "FP64 with a null": ("FP64", [None] + [0.5] * (len(FEATURES) - 1)),
    "INT64 with fractions": ("INT64", [0.5] * len(FEATURES)),
    "INT32 as strings": ("INT32", ["1"] * len(FEATURES)),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_data_that_disagrees_with_its_datatype_gets_400(server: ModelServer, case: str) -> None:
    """Strings, booleans, nulls or fractions sent for a numeric datatype get 400 with one line naming the datatype."""
    datatype, data = BAD_DATA[case]
    response = server.infer({"inputs": [{"name": "features", "shape": [1, len(FEATURES)], "datatype": datatype, "data": data}]})
    assert response.status_code == 400, (case, response.status_code, response.text)
    assert datatype in one_line_error(response), case
    good = server.infer({"inputs": [{"name": "features", "shape": [1, len(FEATURES)], "datatype": datatype, "data": [1] * len(FEATURES)}]})
    assert good.status_code == 200, (case, good.text)


def test_metadata_declares_the_contracts_tensors(server: ModelServer, champion: tuple[Path, float]) -> None:
    """GET /v2/models/<name> lists the input (the contract's features, in order) and both outputs, with the threshold."""
    metadata = server.metadata()
    (tensor,) = metadata["inputs"]
    assert (tensor["name"], tensor["datatype"], tensor["shape"]) == ("features", "FP64", [-1, len(FEATURES)])
    assert tensor["parameters"]["feature_names"] == FEATURES
    declared = {o["name"]: (o["datatype"], o["shape"]) for o in metadata["outputs"]}
    assert declared == {PROBABILITY: ("FP64", [-1, 1]), DECISION: ("INT64", [-1, 1])}
    (decision,) = [o for o in metadata["outputs"] if o["name"] == DECISION]
    assert decision["parameters"]["threshold"] == pytest.approx(champion[1])


def test_the_charts_example_request_is_served(server: ModelServer) -> None:
    """values.yaml's exampleRequest, exactly what NOTES.txt and the chart README send, gets 200 and one decision."""
    example = yaml.safe_load((CHART / "values.yaml").read_text())["exampleRequest"]
    response = server.infer(example)
    assert response.status_code == 200, response.text
    assert set(outputs(response)) == {PROBABILITY, DECISION}
    assert outputs(response)[DECISION] in ([0], [1])


def test_decision_is_taken_at_the_registered_threshold(server: ModelServer, champion: tuple[Path, float], fraud_csv: Path) -> None:
    """The rows scored just above and just below the registered threshold are decided 1 and 0; a request may ask for one output."""
    mnt, threshold = champion
    assert json.loads((mnt / SERVING_CODE_DIR / "serving_runtime.json").read_text())["threshold"] == pytest.approx(threshold)
    assert abs(threshold - 0.5) > 1e-3, "the tuned threshold must differ from scikit-learn's 0.5 for this test to tell them apart"
    rows = pd.read_csv(fraud_csv)[FEATURES].astype(float)
    scores = joblib.load(mnt / "model.pkl").predict_proba(rows.to_numpy())[:, 1]
    above = int(np.argmin(np.where(scores >= threshold, scores, np.inf)))
    below = int(np.argmax(np.where(scores < threshold, scores, -np.inf)))
    assert scores[below] < threshold <= scores[above]
    response = server.infer(v2_request([rows.iloc[above].tolist(), rows.iloc[below].tolist()]))
    assert response.status_code == 200, response.text
    served = outputs(response)
    assert served[DECISION] == [1, 0], (threshold, scores[above], scores[below])
    assert served[PROBABILITY] == pytest.approx([scores[above], scores[below]])
    only = server.infer({**v2_request([rows.iloc[above].tolist()]), "outputs": [{"name": DECISION}]})
    assert [o["name"] for o in only.json()["outputs"]] == [DECISION]
    unknown = server.infer({**v2_request([rows.iloc[above].tolist()]), "outputs": [{"name": "predict"}]})
    assert unknown.status_code == 400 and DECISION in one_line_error(unknown)


def test_batching_is_the_charts_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart's model.batching reaches MLServer's env, batching on, in MLServer's own process; the local server uses the same."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())["model"]["batching"]
    assert values["maxBatchSize"] > 1 and values["maxBatchTime"] > 0, "batching is off in the chart"
    env = chart_env()
    assert int(env["MLSERVER_MODEL_MAX_BATCH_SIZE"]) == values["maxBatchSize"]
    assert float(env["MLSERVER_MODEL_MAX_BATCH_TIME"]) == pytest.approx(values["maxBatchTime"])
    assert env["MLSERVER_PARALLEL_WORKERS"] == "0"
    for name in ("MLSERVER_MODEL_MAX_BATCH_SIZE", "MLSERVER_MODEL_MAX_BATCH_TIME"):
        monkeypatch.setenv(name, env[name])
    settings = ModelSettings(implementation=SERVING_IMPLEMENTATION)
    assert (settings.max_batch_size, settings.max_batch_time) == (values["maxBatchSize"], values["maxBatchTime"]), "MLServer reads them"
    local = serving_env(tmp_path, "m", 1, SERVING_IMPLEMENTATION)
    assert {name: local[name] for name in env if name.startswith(("MLSERVER_MODEL_MAX", "MLSERVER_PARALLEL"))} == {
        name: value for name, value in env.items() if name.startswith(("MLSERVER_MODEL_MAX", "MLSERVER_PARALLEL"))
    }
    assert chart_batching() == Batching(values["maxBatchSize"], values["maxBatchTime"])


# A batch window long enough that requests sent together are merged into one model call.
WIDE_BATCHING = Batching(16, 0.3)
SMALL_LIMIT = 4096


@pytest.fixture(scope="module")
def batched(champion: tuple[Path, float], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """The champion's runtime with a wide batch window and a 4 KiB body limit."""
    mnt, _ = champion
    env = {"MLSERVER_MODEL_EXTRA": json.dumps({"max_request_bytes": SMALL_LIMIT})}
    log = tmp_path_factory.mktemp("batched") / "mlserver.log"
    with model_server(mnt, "fraud-model-serving", log, runtime_env=env, batching=WIDE_BATCHING) as running:
        yield running


def test_each_request_is_checked_alone_when_batched(batched: ModelServer, champion: tuple[Path, float], fraud_csv: Path) -> None:
    """Sent together into one batch, bad requests get their own 400/413 and the good ones their own rows' answers.

    Checked only as MLServer's merged batch (the runtime's wrapper removed), the good requests here got 400 too."""
    mnt, threshold = champion
    rows = pd.read_csv(fraud_csv)[FEATURES].astype(float).head(120).to_numpy()
    scores = joblib.load(mnt / "model.pkl").predict_proba(rows)[:, 1]
    good = {
        "one row": (v2_request([rows[0].tolist()]), [0]),
        "two rows": (v2_request([rows[1].tolist(), rows[2].tolist()]), [1, 2]),
        "decision only": ({**v2_request([rows[3].tolist()]), "outputs": [{"name": DECISION}]}, [3]),
        "INT64 named x": ({"inputs": [{"name": "x", "shape": [1, len(FEATURES)], "datatype": "INT64",
                                       "data": [int(v) for v in rows[4]]}]}, None),
    }
    bad = {
        "strings": ({"inputs": [{"name": "features", "shape": [1, len(FEATURES)], "datatype": "FP64", "data": ["1"] * len(FEATURES)}]}, 400),
        "too few features": ({"inputs": [{"name": "features", "shape": [1, 2], "datatype": "FP64", "data": [0.5, 0.5]}]}, 400),
        "over the limit": (v2_request(rows[5:120].tolist()), 413),
        "unknown output": ({**v2_request([rows[6].tolist()]), "outputs": [{"name": "predict"}]}, 400),
    }
    sent = {**{k: v[0] for k, v in good.items()}, **{k: v[0] for k, v in bad.items()}}
    assert len(json.dumps(sent["over the limit"])) > SMALL_LIMIT > max(len(json.dumps(b)) for k, b in sent.items() if k != "over the limit")
    with ThreadPoolExecutor(len(sent)) as pool:
        answers = dict(zip(sent, pool.map(lambda body: batched.infer(body, timeout=30), sent.values()), strict=True))
    for case, (_, status) in bad.items():
        assert answers[case].status_code == status, (case, answers[case].text)
        one_line_error(answers[case])
    for case, (_, indices) in good.items():
        assert answers[case].status_code == 200, (case, answers[case].text)
        served = outputs(answers[case])
        if case == "decision only":
            assert list(served) == [DECISION]
            assert served[DECISION] == [int(scores[3] >= threshold)]
        elif indices is not None:
            assert served[PROBABILITY] == pytest.approx(scores[indices].tolist()), case
            assert served[DECISION] == [int(score >= threshold) for score in scores[indices]], case


def test_the_runtime_refuses_batching_in_a_worker(champion: tuple[Path, float], monkeypatch: pytest.MonkeyPatch) -> None:
    """With batching on, the runtime will not load in a parallel worker, where MLServer would merge requests unchecked."""
    mnt, _ = champion
    monkeypatch.syspath_prepend(str(mnt / SERVING_CODE_DIR))
    from serving_runtime import ValidatingSKLearnModel

    def settings(size: int) -> ModelSettings:
        return ModelSettings(name="m", implementation=ValidatingSKLearnModel, parameters={"uri": str(mnt / "model.pkl")},
                             max_batch_size=size, max_batch_time=0.01)

    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    with pytest.raises(ValueError, match="MLSERVER_PARALLEL_WORKERS=0"):
        asyncio.run(ValidatingSKLearnModel(settings(8)).load())
    assert asyncio.run(ValidatingSKLearnModel(settings(1)).load()), "without batching it loads in a worker"
