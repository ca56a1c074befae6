"""The served model's request log, as KServe's inference logger writes it to blob storage.

KServe v0.20.0's agent (``spec.predictor.logger`` with an ``s3://`` URL and ``storage``) writes one
object per logged message, at ``<url path>/<namespace>/<inference service>/<component>/<storage
path>/<id>-request.json``, holding the agent's ``LogRequest`` as JSON: the request body is the
``bytes`` field, base64-encoded (a JSON array of such objects when the agent batches). See
``pkg/logger/store.go`` (``getObjectKey``), ``types.go`` (``LogRequest``) and
``marshaller_json.go`` at the v0.20.0 tag. The body is a V2 inference request: one input of
shape ``[rows, features]``.

:func:`log_record`, :func:`object_key` and :func:`write_record` write the same layout (the demo and the tests use them
where no KServe agent runs); :func:`feature_rows` reads it back. No dependencies beyond the
standard library and numpy.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import numpy as np

from pipelines.cluster import REQUEST_LOG_STORE_PATH

REQUEST_TYPE = "org.kubeflow.serving.inference.request"  # the agent's CEInferenceRequest
COMPONENT = "predictor"


def folder(prefix: str, namespace: str, inference_service: str, component: str = COMPONENT,
           store_path: str = REQUEST_LOG_STORE_PATH) -> str:
    """The folder the agent writes one InferenceService's requests to (without the bucket)."""
    return str(PurePosixPath(*[part for part in (prefix.strip("/"), namespace, inference_service, component, store_path) if part]))


def object_key(prefix: str, namespace: str, inference_service: str, record_id: str, component: str = COMPONENT) -> str:
    """Where the agent puts one logged request (without the bucket)."""
    return f"{folder(prefix, namespace, inference_service, component)}/{record_id}-request.json"


def log_record(body: bytes, record_id: str, namespace: str, inference_service: str, component: str = COMPONENT) -> dict:
    """One ``LogRequest`` as the agent marshals it (the fields the drift job reads, and their neighbours)."""
    return {
        "bytes": base64.b64encode(body).decode(),
        "contentType": "application/json",
        "reqType": REQUEST_TYPE,
        "id": record_id,
        "inferenceService": inference_service,
        "namespace": namespace,
        "component": component,
        "occurrenceTime": datetime.now(UTC).isoformat(),
    }


def write_record(root: Path, body: bytes, namespace: str, inference_service: str) -> Path:
    """Log one request under the local folder ``root`` where the agent would put it in a bucket; the file written."""
    record_id = str(uuid.uuid4())
    path = root / object_key("", namespace, inference_service, record_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(log_record(body, record_id, namespace, inference_service)))
    return path


def feature_rows(documents: list[str], features: int) -> tuple[np.ndarray, int]:
    """The request rows of ``features`` values in the logged documents, and how many records were skipped.

    A record that is not a request, is not a V2 body, or has another shape is skipped (the model
    refused those with a 400 anyway); it is counted, never fatal.
    """
    rows, skipped = [], 0
    for document in documents:
        try:
            parsed = json.loads(document)
        except json.JSONDecodeError:
            skipped += 1
            continue
        for record in parsed if isinstance(parsed, list) else [parsed]:
            try:
                if not str(record.get("reqType", "")).endswith("request"):
                    continue
                body = json.loads(base64.b64decode(record["bytes"]))
                (tensor,) = body["inputs"]
                values = np.asarray(tensor["data"], dtype=float).reshape(tensor["shape"])
                if values.ndim != 2 or values.shape[1] != features:
                    raise ValueError(values.shape)
                rows.append(values)
            except (KeyError, TypeError, ValueError, json.JSONDecodeError):
                skipped += 1
    return (np.vstack(rows) if rows else np.empty((0, features))), skipped
