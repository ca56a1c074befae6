"""Deploy the compiled training pipeline to the environment's KFP, with its recurring run.

The pipeline version is named by the content hash of the compiled spec and the
run's parameters; an in-cluster Job (named by the same hash) uploads it. The
same spec and parameters give the same version and the same Job, so a second
`pulumi up` without a pipeline change changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.workload_security import container_security, pod_security

ROOT = Path(__file__).resolve().parent.parent.parent
COMPILED = ROOT / "pipelines" / "compiled"
UPLOADER = ROOT / "infra" / "jobs" / "upload_pipeline.py"


def version_name(pipeline_name: str, spec: str, schedule: str, parameters: dict[str, Any]) -> str:
    """``<pipeline>-<12 hex>``: a hash of the spec, the schedule and the run parameters."""
    digest = hashlib.sha256(json.dumps([spec, schedule, parameters], sort_keys=True).encode()).hexdigest()
    return f"{pipeline_name}-{digest[:12]}"


class TrainingPipelines(pulumi.ComponentResource):
    """The compiled pipeline in a ConfigMap and the Job that uploads and schedules it."""

    version: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        namespace: str,
        pipeline_name: str,
        api_url: str,
        schedule: str,
        parameters: dict[str, pulumi.Input[Any]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:k8s:TrainingPipelines", name, None, opts)
        spec = (COMPILED / f"{pipeline_name}.yaml").read_text()
        resolved = pulumi.Output.from_input(parameters)
        self.version = resolved.apply(lambda params: version_name(pipeline_name, spec, schedule, params))
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
            spec={
                "backoffLimit": 4,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(),
                        "containers": [
                            {
                                "name": "upload",
                                "image": versions.IMAGES["python"],
                                "command": ["python", "/pipeline/upload_pipeline.py"],
                                "env": [
                                    {"name": "KFP_API", "value": api_url},
                                    {"name": "PIPELINE_NAME", "value": pipeline_name},
                                    {"name": "VERSION_NAME", "value": self.version},
                                    {"name": "PIPELINE_FILE", "value": "/pipeline/pipeline.yaml"},
                                    {"name": "SCHEDULE", "value": schedule},
                                    {"name": "PARAMETERS", "value": resolved.apply(lambda p: json.dumps(p, sort_keys=True))},
                                ],
                                "securityContext": container_security(),
                                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                                "volumeMounts": [{"name": "pipeline", "mountPath": "/pipeline", "readOnly": True}],
                            }
                        ],
                        "volumes": [{"name": "pipeline", "configMap": {"name": config_name}}],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config]),
        )
        self.register_outputs({"version": self.version})
