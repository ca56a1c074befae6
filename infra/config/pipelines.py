"""The training and drift pipelines' settings: schedules, the step image, the data and the gate's floors."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from infra.config.base import Frozen
from pipelines import image


class PipelineSettings(Frozen):
    """The training and drift pipelines: schedules, the step image, the data and the gate's floors."""

    schedule: str
    step_image_digest: str
    feature_image_digest: str = ""
    drift_schedule: str
    data_uri: str
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

    @field_validator("data_uri")
    @classmethod
    def _data_uri(cls, value: str) -> str:
        if value and not re.match(r"^(s3|file)://.+", value):
            raise ValueError("training data is read from s3:// (or file:// in tests); leave empty for the data bucket")
        return value
