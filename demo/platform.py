"""The demo's platform step: the staging stack's offline preview and policy report (infra environment, started early
in the background) and the serving chart rendered for staging with the champion's S3 path."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from demo import BACKGROUND, INFRA_PYTHON
from pipelines.cluster import served_uri

ROOT = Path(__file__).resolve().parent.parent
HIGHLIGHTS = (
    "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon", "aws:ec2/subnet:Subnet",
    "aws:ec2/natGateway:NatGateway", "aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:iam/role:Role",
)


class PlatformChecks:
    """The staging stack's offline preview and policy report, run in the infra environment in the background.

    They need nothing the pipelines produce, so they start first, at a lower priority (:data:`demo.BACKGROUND`: on
    what the pipelines leave idle), and are read at the end. One process runs the program once for both.
    """

    def __init__(self) -> None:
        self.available = INFRA_PYTHON.exists()
        self.process: subprocess.Popen[str] | None = None
        if self.available:
            self.process = subprocess.Popen(
                [*BACKGROUND, str(INFRA_PYTHON), "-m", "tooling.preview", "--stack", "staging", "--outputs-json", "--policy"],
                cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )

    def result(self) -> dict[str, Any]:
        """The preview's counts, outputs and policy report; raises with the preview's last error line."""
        assert self.process is not None
        stdout, stderr = self.process.communicate(timeout=300)
        if self.process.returncode != 0:
            reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {self.process.returncode}"
            raise RuntimeError(f"the staging preview failed: {reason}")
        return json.loads(stdout)


def platform_preview(champion_source: str, checks: PlatformChecks, say: Callable[[str], None]) -> dict[str, Any]:
    """Render the serving chart for staging and print the staging stack's offline preview (infra venv)."""
    helm = ROOT / ".bin" / "helm" if (ROOT / ".bin" / "helm").exists() else shutil.which("helm")
    if not checks.available or not helm:
        say("skipped: run `make setup` for the infra environment and helm")
        return {"skipped": True}
    outputs = checks.result()
    policy = outputs.pop("policy")
    # The champion's path under the staging artifacts bucket (MLflow serves
    # artifacts from s3://<bucket>/mlflow/ there).
    storage_uri = served_uri(outputs["outputs"]["artifactsBucket"], champion_source)
    rendered = subprocess.run(
        [str(helm), "template", "fraud", str(ROOT / "charts" / "model-serving"), "--namespace", "models",
         "--set", f"model.storageUri={storage_uri}", "--set", "serviceAccount.name=model-serving",
         "--set", f"serviceAccount.roleArn={outputs['outputs']['roleArns']['serving']}"],
        capture_output=True, text=True, check=True,
    ).stdout
    kinds = [line.split(":", 1)[1].strip() for line in rendered.splitlines() if line.startswith("kind:")]
    say(f"serving chart for staging renders {len(kinds)} objects: {', '.join(sorted(set(kinds)))}")
    say(f"  model.storageUri={storage_uri}")
    policy_line = policy["report"].splitlines()[0]
    say(f"staging stack: {outputs['total']} resources would be created, among them")
    for resource_type, count in outputs["counts"].items():
        if resource_type in HIGHLIGHTS:
            say(f"  {count:3d} x {resource_type}")
    say(policy_line)
    return {"skipped": False, "storage_uri": storage_uri, "chart_kinds": kinds, "policy": policy_line,
            "policy_passed": policy["mandatory"] == 0, **outputs}
