"""The MLServer runtime every registered model carries: MLServer's scikit-learn runtime, with
V2 requests checked against the model before it runs, so that a malformed request gets a
400 with one line saying what is wrong (MLServer's own runtime answers 500 to most of them).

It travels with the model: the pipeline's ``register`` step logs this file into the model's
``code/`` folder, and the serving chart sets ``MLSERVER_MODEL_IMPLEMENTATION`` to
``serving_runtime.ValidatingSKLearnModel`` with that folder on ``PYTHONPATH``. The expected
feature count is the model's own (``n_features_in_``), so there is nothing to keep in sync.
Only the Python standard library, numpy and MLServer are imported: the serving image has them.
"""

from __future__ import annotations

import numpy as np
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver_sklearn import SKLearnModel

NUMERIC = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}


def request_problem(payload: InferenceRequest, features: int | None) -> str | None:
    """What is wrong with ``payload`` for a model of ``features`` inputs, or None."""
    wanted = f"[rows, {features}]" if features else "[rows, features]"
    if len(payload.inputs) != 1:
        return f"send one input tensor of shape {wanted}, got {len(payload.inputs)} inputs"
    (tensor,) = payload.inputs
    if tensor.datatype not in NUMERIC:
        return f"input {tensor.name!r} has datatype {tensor.datatype}; send numbers (FP64) of shape {wanted}"
    shape = list(tensor.shape)
    if len(shape) != 2:
        return f"input {tensor.name!r} has shape {shape}; send a 2-D tensor of shape {wanted}"
    rows, columns = shape
    if rows < 1:
        return f"input {tensor.name!r} is an empty batch (shape {shape}); send at least one row"
    if features and columns != features:
        return f"input {tensor.name!r} has {columns} features per row, the model takes {features}: shape {wanted}"
    data = tensor.data.root if hasattr(tensor.data, "root") else tensor.data
    try:
        values = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        return f"input {tensor.name!r} data is not a flat list of numbers"
    if values.size != rows * columns:
        return f"input {tensor.name!r} has shape {shape} ({rows * columns} values) but {values.size} values in data"
    if not np.isfinite(values).all():
        return f"input {tensor.name!r} holds NaN or infinite values"
    return None


class ValidatingSKLearnModel(SKLearnModel):
    """MLServer's SKLearnModel that refuses a malformed request with a 400 and a one-line reason."""

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        problem = request_problem(payload, getattr(self._model, "n_features_in_", None))
        if problem:
            raise InferenceError(problem)
        try:
            return await super().predict(payload)
        except InferenceError:
            raise
        except (ValueError, TypeError) as error:  # what the model itself refuses is the request's fault
            raise InferenceError(f"the model refused the request: {error}") from None
