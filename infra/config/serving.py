"""The served model's settings: its release, model, scaling, owner, canary, GPU and load balancer."""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import Field, field_validator

from infra import paths
from infra.config.base import AcmCertificateArn, DnsDomain, DnsLabel, Frozen
from pipelines import image

# The model URIs KServe's storage initializer reads: the serving chart's values schema owns the pattern.
MODEL_URI = re.compile(
    json.loads((paths.SERVING_CHART / "values.schema.json").read_text())["properties"]["model"]["properties"]["storageUri"]["pattern"]
)


class ServingSettings(Frozen):
    """The served model: its release, model, scaling, owner, canary, GPU and load balancer."""

    model_name: DnsLabel
    storage_uri: str
    deployment_mode: Literal["Standard", "Knative"]
    min_replicas: int = Field(ge=0)
    max_replicas: int = Field(ge=1, le=100)
    owner: Literal["stack", "helm"]
    predictor_name: str
    canary_name: str
    canary_storage_uri: str
    canary_percent: int = Field(ge=0, le=100)
    gpu: bool
    ingress: Literal["none", "internal", "internet-facing"]
    domain: DnsDomain
    certificate_arn: AcmCertificateArn
    image_digest: str

    @field_validator("image_digest")
    @classmethod
    def _image_digest(cls, value: str) -> str:
        if value and not image.DIGEST.match(value):
            raise ValueError("not an image digest: sha256:<64 hex digits>, as `docker buildx build --push` prints it")
        return value

    @field_validator("predictor_name", "canary_name")
    @classmethod
    def _predictor_name(cls, value: str) -> str:
        if value and not re.match(r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$", value):
            raise ValueError("a predictor name is a short lowercase label such as v2 (letters, digits, '-'; at most 20)")
        return value

    @field_validator("storage_uri", "canary_storage_uri")
    @classmethod
    def _model_uri(cls, value: str) -> str:
        if not MODEL_URI.match(value):
            raise ValueError("a model URI is s3://, gs://, pvc:// or https://")
        return value
