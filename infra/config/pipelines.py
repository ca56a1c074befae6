"""The training and drift pipelines' settings: schedules, the step images, the data and its source, the gate's floors."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from infra.config.base import Frozen
from pipelines import image
from pipelines.features.repo import FEATURE_SOURCES

# Where the recurring run reads its data in the data bucket when pipelineDataUri is empty, per feature source: the
# contract's CSV (file), or raw transactions with customer_id and event_timestamp, parquet or CSV (feast; the features
# step reads them through the feature store: `python -m pipelines.fraud.data --raw` writes them).
DATA_KEYS = {"file": "fraud/latest.csv", "feast": "fraud/transactions.parquet"}


class PipelineSettings(Frozen):
    """The training and drift pipelines: schedules, the step image, the data and the gate's floors."""

    schedule: str
    step_image_digest: str
    feature_image_digest: str = ""
    drift_schedule: str
    data_uri: str
    # Where the recurring runs' training rows come from (the pipeline's feature_source): the feature store by default,
    # which every stack installs (infra/components/feature_server.py), so that training and serving read one definition.
    feature_source: str = "feast"
    auc_floor: float = Field(ge=0.5, le=1.0)
    min_improvement: float = Field(ge=0.0, le=0.5)

    @field_validator("step_image_digest", "feature_image_digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if value and not image.DIGEST.match(value):
            raise ValueError("not an image digest: sha256:<64 hex digits>, as `docker buildx build --push` prints it")
        return value

    @field_validator("schedule", "drift_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value and len(value.split()) != 5:
            raise ValueError("a cron schedule has 5 fields (minute hour day month weekday), or leave it empty")
        return value

    @field_validator("feature_source")
    @classmethod
    def _feature_source(cls, value: str) -> str:
        if value not in FEATURE_SOURCES:
            raise ValueError(f"not a feature source: use {' or '.join(FEATURE_SOURCES)} (feast reads raw transactions "
                             "through the feature store, file a ready training CSV)")
        return value

    @field_validator("data_uri")
    @classmethod
    def _data_uri(cls, value: str) -> str:
        if value and not re.match(r"^(s3|file)://.+", value):
            raise ValueError("training data is read from s3:// (or file:// in tests); leave empty for the data bucket")
        return value

    def data_uri_in(self, data_bucket: str) -> str:
        """The recurring run's data: pipelineDataUri, else the default key of its feature source in ``data_bucket``."""
        return self.data_uri or f"s3://{data_bucket}/{DATA_KEYS[self.feature_source]}"
