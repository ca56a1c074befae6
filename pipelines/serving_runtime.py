"""The MLServer runtime every registered model carries: MLServer's scikit-learn runtime, with
V2 requests checked before the model runs and the decision taken at the model's own threshold.

It travels with the model: the pipeline's ``register`` step logs this file into the model's
``code/`` folder, with its settings beside it (``serving_runtime.json``: the contract's feature
names and label, and the decision threshold training picked), and the serving chart sets
``MLSERVER_MODEL_IMPLEMENTATION`` to ``serving_runtime.ValidatingSKLearnModel`` with that folder
on ``PYTHONPATH``. What it does:

- A malformed request gets a 400 with one line saying what is wrong (MLServer's own runtime
  answers 500 to most), including data that disagrees with its datatype (strings or booleans
  sent as FP64); a body over ``max_request_bytes`` (MLServer's model setting ``extra``, env
  ``MLSERVER_MODEL_EXTRA``; default :data:`DEFAULT_MAX_REQUEST_BYTES`) gets a 413.
- The model's V2 metadata declares its input tensor and its two outputs, ``<label>_probability``
  and ``<label>_decision`` (1 when the probability is at or above the threshold), which every
  response carries unless the request names one.
- An XGBoost model (the pipelines' GPU option) predicts on the GPU where the pod sees one: its booster's
  ``device`` is set to ``cuda`` at load (``cpu`` otherwise, as trained elsewhere), and the device is logged and
  reported in the model's V2 metadata (``parameters.device``). Other models predict on the CPU, as ever.
- With MLServer's adaptive batching on (model settings ``max_batch_size``/``max_batch_time``, env
  ``MLSERVER_MODEL_MAX_BATCH_SIZE``/``MLSERVER_MODEL_MAX_BATCH_TIME``), each request is still checked
  on its own before it joins a batch: MLServer merges the queued requests into one (one tensor per
  input name, the first request's datatype, the last one's headers, the union of named outputs), so
  a bad request checked only in the merged batch would fail its neighbours and escape the size bound.
  The checked rows join the batch as one FP64 tensor named ``features``; each request gets back the
  outputs it named. Batching merges in MLServer's main process, so this runtime refuses to load in a
  parallel worker with batching on (set ``MLSERVER_PARALLEL_WORKERS=0``, as the serving chart does).

Only the Python standard library, numpy and MLServer are imported (XGBoost's estimator is reached through
the loaded model): the serving image has them.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError, MLServerError
from mlserver.logging import logger
from mlserver.types import InferenceRequest, InferenceResponse, MetadataModelResponse, MetadataTensor, Parameters, RequestInput
from mlserver_sklearn import SKLearnModel

# The largest request body the model takes, in bytes (about 7,000 rows of 7 features as JSON).
DEFAULT_MAX_REQUEST_BYTES = 1_048_576
INPUT = "features"
INTEGERS = {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
FLOATS = {"FP16", "FP32", "FP64"}
# The settings the register step writes beside this module: <module>.json.
SETTINGS = Path(__file__).with_suffix(".json")


def visible_gpus() -> int:
    """CUDA devices this process may use, as the NVIDIA driver counts them; 0 without a driver or a device.

    The same probe as the training step's (pipelines/fraud/estimators.py): this file travels alone with the model."""
    for library in ("libcuda.so.1", "libcuda.so"):
        try:
            cuda = ctypes.CDLL(library)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


def xgboost_estimator(model: object) -> object | None:
    """The XGBoost estimator that scores ``model`` (the model itself, or a scikit-learn Pipeline's last step), or None."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    return final if type(final).__module__.split(".")[0] == "xgboost" and hasattr(final, "get_booster") else None


def place(model: object, gpus: int) -> str:
    """Put ``model``'s XGBoost booster on ``cuda`` when ``gpus`` are visible, else on the CPU; the device it predicts on."""
    estimator = xgboost_estimator(model)
    if estimator is None:
        return "cpu"
    device = "cuda" if gpus else "cpu"
    # The estimator's parameter and its fitted booster's (predict_proba reads the booster's).
    estimator.set_params(device=device)
    estimator.get_booster().set_param({"device": device})
    return device


def output_names(label: str) -> tuple[str, str]:
    """The model's output tensors: the probability of ``label`` and the decision at the threshold."""
    return f"{label}_probability", f"{label}_decision"


def _flat(data: object) -> list:
    """The values of a (possibly nested) V2 data list, in row-major order."""
    if not isinstance(data, list):
        return [data]
    return [value for item in data for value in _flat(item)]


def _data(tensor: object) -> object:
    data = tensor.data
    return data.root if hasattr(data, "root") else data


def _agrees(value: object, datatype: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return datatype in FLOATS or isinstance(value, int) or float(value).is_integer()


def request_problem(payload: InferenceRequest, features: int | None) -> str | None:
    """What is wrong with ``payload`` for a model of ``features`` inputs, or None."""
    wanted = f"[rows, {features}]" if features else "[rows, features]"
    if len(payload.inputs) != 1:
        return f"send one input tensor of shape {wanted}, got {len(payload.inputs)} inputs"
    (tensor,) = payload.inputs
    if tensor.datatype not in FLOATS | INTEGERS:
        return f"input {tensor.name!r} has datatype {tensor.datatype}; send numbers (FP64) of shape {wanted}"
    shape = list(tensor.shape)
    if len(shape) != 2:
        return f"input {tensor.name!r} has shape {shape}; send a 2-D tensor of shape {wanted}"
    rows, columns = shape
    if rows < 1:
        return f"input {tensor.name!r} is an empty batch (shape {shape}); send at least one row"
    if features and columns != features:
        return f"input {tensor.name!r} has {columns} features per row, the model takes {features}: shape {wanted}"
    values = _flat(_data(tensor))
    wrong = [value for value in values if not _agrees(value, tensor.datatype)][:1]
    if wrong:
        kind = "numbers" if tensor.datatype in FLOATS else "integers"
        return f"input {tensor.name!r} is {tensor.datatype} but its data holds {wrong[0]!r} ({type(wrong[0]).__name__}); send {kind}"
    if len(values) != rows * columns:
        return f"input {tensor.name!r} has shape {shape} ({rows * columns} values) but {len(values)} values in data"
    if not np.isfinite(np.asarray(values, dtype=float)).all():
        return f"input {tensor.name!r} holds NaN or infinite values"
    return None


def batching(settings: object) -> bool:
    """Whether MLServer batches this model's requests (its load_batching hook: max_batch_size > 1 and max_batch_time > 0)."""
    return getattr(settings, "max_batch_size", 0) > 1 and getattr(settings, "max_batch_time", 0) > 0


def body_problem(payload: InferenceRequest, limit: int) -> str | None:
    """Why the request's body is too large (its Content-Length, as MLServer passes the headers), or None."""
    headers = (payload.parameters.headers if payload.parameters else None) or {}
    length = {key.lower(): value for key, value in headers.items()}.get("content-length")
    if length is not None and str(length).isdigit() and int(length) > limit:
        return f"request body is {int(length)} bytes, above the model's limit of {limit}; send fewer rows per request"
    return None


class ValidatingSKLearnModel(SKLearnModel):
    """MLServer's SKLearnModel that refuses a malformed request with a one-line reason and decides at its threshold."""

    async def load(self) -> bool:
        if not SETTINGS.exists():
            raise FileNotFoundError(f"{SETTINGS} is missing: register the model with the pipeline's register step")
        settings = json.loads(SETTINGS.read_text())
        self._threshold = float(settings["threshold"])
        self._outputs = output_names(settings["label"])
        extra = (self._settings.parameters.extra if self._settings.parameters else None) or {}
        self._max_request_bytes = int(extra.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES))
        loaded = await super().load()
        self._device = place(self._model, visible_gpus())
        logger.info("model %s (%s) predicts on %s", self.name, type(xgboost_estimator(self._model) or self._model).__name__, self._device)
        features = settings["features"]
        if len(features) != getattr(self._model, "n_features_in_", len(features)):
            raise ValueError(f"{SETTINGS} lists {len(features)} features, the model takes {self._model.n_features_in_}")
        probability, decision = self._outputs
        self._settings.inputs = [
            MetadataTensor(name=INPUT, datatype="FP64", shape=[-1, len(features)], parameters=Parameters(feature_names=features))
        ]
        self._settings.outputs = [
            MetadataTensor(name=probability, datatype="FP64", shape=[-1, 1]),
            MetadataTensor(name=decision, datatype="INT64", shape=[-1, 1], parameters=Parameters(threshold=self._threshold)),
        ]
        # MLServer's load_batching hook runs before load() and puts the batcher on the instance as `predict`.
        batcher = self.__dict__.get("predict")
        if batcher is not None:
            self.predict = self._checked_before(batcher)
        elif batching(self._settings) and multiprocessing.parent_process() is not None:
            raise ValueError(
                "adaptive batching (max_batch_size > 1) merges requests in MLServer's main process, before this runtime can "
                "check each one in a parallel worker: set MLSERVER_PARALLEL_WORKERS=0"
            )
        return loaded

    async def metadata(self) -> MetadataModelResponse:
        """MLServer's metadata, with the device the model predicts on (``parameters.device``: ``cuda`` or ``cpu``)."""
        response = await super().metadata()
        content_type = response.parameters.content_type if response.parameters else None
        response.parameters = Parameters(content_type=content_type, device=self._device)
        return response

    def _checked(self, payload: InferenceRequest) -> tuple[np.ndarray, list[str]]:
        """The request's rows and the outputs it wants; a 413 or a 400 with one line saying what is wrong."""
        too_large = body_problem(payload, self._max_request_bytes)
        if too_large:
            raise MLServerError(too_large, status_code=413)
        problem = request_problem(payload, getattr(self._model, "n_features_in_", None))
        if problem:
            raise InferenceError(problem)
        wanted = [output.name for output in payload.outputs or []] or list(self._outputs)
        unknown = [name for name in wanted if name not in self._outputs]
        if unknown:
            raise InferenceError(f"unknown outputs {unknown}; this model returns {list(self._outputs)}")
        (tensor,) = payload.inputs
        return np.asarray(_flat(_data(tensor)), dtype=float).reshape(tensor.shape), wanted

    def _checked_before(
        self, batcher: Callable[[InferenceRequest], Awaitable[InferenceResponse]]
    ) -> Callable[[InferenceRequest], Awaitable[InferenceResponse]]:
        """``predict`` with batching on: check the request alone, send its rows to the batch, keep the outputs it named."""

        async def predict(payload: InferenceRequest) -> InferenceResponse:
            rows, wanted = self._checked(payload)
            tensor = RequestInput(name=INPUT, datatype="FP64", shape=list(rows.shape), data=rows.ravel().tolist())
            response = await batcher(InferenceRequest(id=payload.id, parameters=payload.parameters, inputs=[tensor]))
            by_name = {output.name: output for output in response.outputs}
            return response.model_copy(update={"outputs": [by_name[name] for name in wanted]})

        return predict

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows, wanted = self._checked(payload)
        try:
            probabilities = self._model.predict_proba(rows)[:, 1]
        except (ValueError, TypeError) as error:  # what the model itself refuses is the request's fault
            raise InferenceError(f"the model refused the request: {error}") from None
        results = dict(zip(self._outputs, (probabilities, (probabilities >= self._threshold).astype(np.int64)), strict=True))
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output(name, results[name]) for name in wanted],
        )
