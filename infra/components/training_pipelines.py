"""Deploy a compiled pipeline to the environment's KFP, with its recurring run.

Every step is pinned to the environment's step image (pipelines/image.py), every feature step to its features
step image (pipelines/features/image.py), by digest, before upload. The pipeline version is named by the content hash of that spec, the schedule and the
run's parameters (but its lineage, the source commit); an in-cluster Job (named by the same hash) uploads it. The same inputs give
the same version and the same Job, so a second `pulumi up` without a change changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.workload_security import restricted_container, restricted_job
from pipelines import image
from pipelines.features import image as features_image

ROOT = Path(__file__).resolve().parent.parent.parent
COMPILED = ROOT / "pipelines" / "compiled"
UPLOADER = ROOT / "infra" / "jobs" / "upload_pipeline.py"


# What the step image and the pipelines are built from: the commit that last changed them is the
# lineage a trained model records (its git_commit tag).
PIPELINE_SOURCES = ("pipelines", "requirements/steps.lock", "requirements/features.lock")
# Run parameters that record where the run came from, not what it does: not part of the version's name,
# so that the same pipeline deployed from a shallow and a full clone is the same version.
LINEAGE_PARAMETERS = ("git_commit",)


def source_commit() -> str:
    """The last commit that changed the pipelines or the step image's lock, with ``-dirty`` when they have
    uncommitted changes; ``GITHUB_SHA`` outside a git checkout; empty when neither is known, and in a
    shallow clone, where the oldest commit it holds seems to have changed every file (the deploy
    workflow checks out the whole history)."""
    git = ["git", "-C", str(ROOT)]
    shallow = subprocess.run([*git, "rev-parse", "--is-shallow-repository"], capture_output=True, text=True, check=False)
    if shallow.stdout.strip() == "true":
        return ""
    found = subprocess.run([*git, "log", "-1", "--format=%H", "--", *PIPELINE_SOURCES], capture_output=True, text=True, check=False)
    commit = found.stdout.strip() if found.returncode == 0 else ""
    if not commit:
        return os.environ.get("GITHUB_SHA", "")
    dirty = subprocess.run([*git, "status", "--porcelain", "--", *PIPELINE_SOURCES], capture_output=True, text=True, check=False)
    return f"{commit}-dirty" if dirty.stdout.strip() else commit


def version_name(pipeline_name: str, spec: str, schedule: str, parameters: dict[str, Any]) -> str:
    """``<pipeline>-<12 hex>``: a hash of the spec, the schedule and the run parameters but the lineage ones."""
    behaviour = {key: value for key, value in parameters.items() if key not in LINEAGE_PARAMETERS}
    digest = hashlib.sha256(json.dumps([spec, schedule, behaviour], sort_keys=True).encode()).hexdigest()
    return f"{pipeline_name}-{digest[:12]}"


class TrainingPipelines(pulumi.ComponentResource):
    """A compiled pipeline, pinned to the step image, in a ConfigMap, and the Job that uploads and schedules it."""

    version: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        namespace: str,
        pipeline_name: str,
        api_url: str,
        schedule: str,
        parameters: dict[str, pulumi.Input[Any]],
        step_image: pulumi.Input[str],
        feature_image: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:k8s:TrainingPipelines", name, None, opts)
        compiled = (COMPILED / f"{pipeline_name}.yaml").read_text()
        spec = pulumi.Output.all(step_image, feature_image).apply(
            lambda refs: image.pin(compiled, refs[0], {features_image.COMPILED_IMAGE: refs[1]}))
        resolved = pulumi.Output.from_input(parameters)
        self.version = pulumi.Output.all(spec, resolved).apply(lambda args: version_name(pipeline_name, args[0], schedule, args[1]))
        suffix = self.version.apply(lambda version: version.rsplit("-", 1)[1])
        config_name = suffix.apply(lambda s: f"{pipeline_name}-{s}")
        labels = {"app.kubernetes.io/name": "pipeline-upload", "app.kubernetes.io/part-of": "mlplatform"}
        config = k8s.core.v1.ConfigMap(
            f"{name}-{pipeline_name}",
            metadata={"name": config_name, "namespace": namespace, "labels": labels},
            data={"pipeline.yaml": spec, "upload_pipeline.py": UPLOADER.read_text()},
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s.batch.v1.Job(
            f"{name}-{pipeline_name}-upload",
            metadata={"name": suffix.apply(lambda s: f"upload-{s}"), "namespace": namespace, "labels": labels},
            spec=restricted_job(
                labels,
                restricted_container(
                    "upload",
                    versions.IMAGES["python"],
                    command=["python", "/pipeline/upload_pipeline.py"],
                    env=[
                        {"name": "KFP_API", "value": api_url},
                        {"name": "PIPELINE_NAME", "value": pipeline_name},
                        {"name": "VERSION_NAME", "value": self.version},
                        {"name": "PIPELINE_FILE", "value": "/pipeline/pipeline.yaml"},
                        {"name": "SCHEDULE", "value": schedule},
                        {"name": "PARAMETERS", "value": resolved.apply(lambda p: json.dumps(p, sort_keys=True))},
                    ],
                    volumeMounts=[{"name": "pipeline", "mountPath": "/pipeline", "readOnly": True}],
                ),
                [{"name": "pipeline", "configMap": {"name": config_name}}],
                backoff_limit=4,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config]),
        )
        self.register_outputs({"version": self.version})
