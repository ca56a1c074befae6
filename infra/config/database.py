"""MLflow's Postgres: RDS (instance class, backups, Multi-AZ) or in the cluster."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from infra.config.base import Frozen


class DatabaseSettings(Frozen):
    """MLflow's Postgres: RDS (instance class, backups, Multi-AZ) or in the cluster."""

    kind: Literal["rds", "in-cluster"]
    instance_class: str
    backup_retention_days: int = Field(ge=1, le=35)
    multi_az: bool

    @field_validator("instance_class")
    @classmethod
    def _instance_class(cls, value: str) -> str:
        if not re.match(r"^db\.[a-z0-9]+\.[a-z0-9]+$", value):
            raise ValueError("not an RDS instance class (db.<family>.<size>, for example db.t4g.medium)")
        return value
