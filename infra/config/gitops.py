"""The GitOps option: Argo CD syncs the serving chart from a repository."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from infra.config.base import Frozen


class GitOpsSettings(Frozen):
    """The GitOps option: Argo CD syncs the serving chart from a repository."""

    mode: Literal["", "argocd"]
    repo_url: str
    revision: str

    @field_validator("repo_url")
    @classmethod
    def _repo_url(cls, value: str) -> str:
        if value and not re.match(r"^(https://[^\s/]+/\S+|git@[^\s:]+:\S+|ssh://\S+)$", value):
            raise ValueError("not a git repository URL (https://github.com/org/repo.git or git@github.com:org/repo.git)")
        return value

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str) -> str:
        if not re.match(r"^[\w./-]+$", value) or value.startswith("-"):
            raise ValueError("not a git branch, tag or commit (for example main, v1.2.0 or a commit SHA)")
        return value
