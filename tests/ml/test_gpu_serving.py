"""GPU serving (issue 31 item 2): the model's own runtime (pipelines/serving_runtime.py) serves an XGBoost model, on
the CPU here (a V2 request over HTTP, device ``cpu`` in its metadata), and puts its booster on ``cuda`` when the pod
sees a GPU (the detection injected: this machine has none)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
from mlserver.settings import ModelParameters, ModelSettings
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from demo.serving import model_server, outputs, v2_request
from pipelines import serving_runtime
from pipelines.cluster import SERVING_CODE_DIR
from pipelines.fraud import estimators
from pipelines.fraud.contract import FEATURES, LABEL
from pipelines.fraud.data import generate

ROOT = Path(__file__).resolve().parents[2]
PROBABILITY, DECISION = serving_runtime.output_names(LABEL)
THRESHOLD = 0.3


def fitted(estimator: str) -> Pipeline:
    """A small model of ``estimator`` as the train step builds it (a scikit-learn Pipeline ending in the classifier)."""
    frame = generate(3000)
    classifier = estimators.classifier(estimator, seed=0, threads=1)
    if estimator == estimators.GPU:
        classifier.set_params(n_estimators=30, max_depth=4)
    return Pipeline([("classifier", classifier)]).fit(frame[FEATURES].to_numpy(dtype=float), frame[LABEL])


def model_dir(model: Pipeline, target: Path) -> Path:
    """``model`` laid out as KServe's storage initializer leaves a registered one: model.pkl and the runtime in code/."""
    code = target / SERVING_CODE_DIR
    code.mkdir(parents=True)
    joblib.dump(model, target / "model.pkl")
    shutil.copy(ROOT / "pipelines" / "serving_runtime.py", code / "serving_runtime.py")
    (code / "serving_runtime.json").write_text(json.dumps({"threshold": THRESHOLD, "features": FEATURES, "label": LABEL}))
    return target


@pytest.fixture(scope="module")
def xgboost_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pipeline, Path]:
    model = fitted(estimators.GPU)
    return model, model_dir(model, tmp_path_factory.mktemp("xgboost") / "models")


def loaded(mnt: Path, monkeypatch: pytest.MonkeyPatch, gpus: int) -> serving_runtime.ValidatingSKLearnModel:
    """The runtime class loaded in this process on ``mnt``, told that ``gpus`` GPUs are visible."""
    monkeypatch.setattr(serving_runtime, "SETTINGS", mnt / SERVING_CODE_DIR / "serving_runtime.json")
    monkeypatch.setattr(serving_runtime, "visible_gpus", lambda: gpus)
    settings = ModelSettings(name="fraud", implementation=serving_runtime.ValidatingSKLearnModel,
                             parameters=ModelParameters(uri=str(mnt / "model.pkl")))
    runtime = serving_runtime.ValidatingSKLearnModel(settings)
    asyncio.run(runtime.load())
    return runtime


def test_xgboost_model_answers_v2_on_the_cpu(xgboost_model: tuple[Pipeline, Path], tmp_path: Path) -> None:
    """With no GPU, MLServer serves the XGBoost model through the runtime it carries: V2 metadata says device cpu and a
    V2 request gets the model's own probabilities and the decisions at its threshold."""
    model, mnt = xgboost_model
    rows = generate(50, seed=11)[FEATURES].to_numpy(dtype=float)
    with model_server(mnt, "fraud-gpu", tmp_path / "mlserver.log") as server:
        assert server.metadata()["parameters"]["device"] == "cpu"
        response = server.infer(v2_request(rows.tolist()))
    assert response.status_code == 200, response.text
    served = outputs(response)
    expected = model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(served[PROBABILITY], expected, rtol=1e-6)
    assert served[DECISION] == (expected >= THRESHOLD).astype(int).tolist()
    assert "predicts on cpu" in (tmp_path / "mlserver.log").read_text()


def test_xgboost_model_is_put_on_cuda_when_a_gpu_is_visible(xgboost_model: tuple[Pipeline, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Told a GPU is visible, the runtime sets the XGBoost booster's device to cuda at load and reports it in metadata."""
    import xgboost

    _, mnt = xgboost_model
    # The fitted booster's own config falls back to cpu here (XGBoost finds no GPU): record what it is given.
    given: list[dict] = []
    original = xgboost.Booster.set_param
    monkeypatch.setattr(xgboost.Booster, "set_param", lambda self, params, value=None: (given.append(params), original(self, params, value))[1])
    runtime = loaded(mnt, monkeypatch, gpus=1)
    assert serving_runtime.xgboost_estimator(runtime._model).get_params()["device"] == "cuda"
    assert {"device": "cuda"} in given
    assert asyncio.run(runtime.metadata()).parameters.device == "cuda"
    assert loaded(mnt, monkeypatch, gpus=0)._device == "cpu"


def test_a_scikit_learn_model_stays_on_the_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default estimator (scikit-learn, no GPU code) predicts on the CPU even on a GPU node."""
    mnt = model_dir(fitted(estimators.DEFAULT), tmp_path / "models")
    runtime = loaded(mnt, monkeypatch, gpus=1)
    assert isinstance(runtime._model[-1], HistGradientBoostingClassifier)
    assert runtime._device == "cpu" and serving_runtime.xgboost_estimator(runtime._model) is None
