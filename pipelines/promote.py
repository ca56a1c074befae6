"""Promotion as a reviewed change: propose the registry's champion as the model a stack serves.

    python -m pipelines.promote --stack staging --tracking-uri http://127.0.0.1:5000 \\
        --artifacts-bucket "$(pulumi stack output artifactsBucket --stack staging)" [--open-pr | --print-uri]

Reads the ``champion`` alias of the environment's MLflow registry, works out the ``s3://`` URI
KServe loads it from (the MLflow server's artifacts destination), and rewrites the one line
``mlplatform:servingStorageUri`` of ``stacks/Pulumi.<stack>.yaml`` (comments and every other line
kept). With ``--open-pr`` it commits that change on a branch ``promote/<stack>/<model>-v<version>``,
pushes it and opens a pull request (GitHub CLI) whose description has the champion's metrics and the
gate's verdict; the preview diff on that pull request shows the one release value that changes.
Without ``--open-pr`` it changes the file and prints the description. Nothing is deployed here:
merging the pull request deploys it. A champion whose recorded requirements (its ``requirements.txt``: the
versions it was trained with) the model server image's lock does not have is refused: that image could not
load it as it was trained (pipelines/serving_image.py).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines import serving_image
from pipelines.cluster import served_uri
from pipelines.fraud.pipeline import DEFAULT_MODEL_NAME

ROOT = Path(__file__).resolve().parent.parent
KEY = "mlplatform:servingStorageUri"
# The metrics evaluate logs, in the order a reviewer reads them.
METRICS = ("test_roc_auc", "test_pr_auc", "test_precision", "test_recall", "test_f1", "cv_roc_auc", "p95_latency_ms")


class PromotionError(RuntimeError):
    """A promotion that cannot be proposed; the message is one line for a person."""


@dataclass(frozen=True)
class Proposal:
    """The champion and the stack file change that would serve it."""

    stack: str
    model: str
    version: str
    current_uri: str
    new_uri: str
    metrics: dict[str, float]
    gate: str
    run_id: str
    # The model server image's content tag recorded at registration, and the one this checkout builds.
    recorded_image: str = ""
    serving_image: str = ""

    @property
    def changes(self) -> bool:
        return self.current_uri != self.new_uri

    @property
    def branch(self) -> str:
        return f"promote/{self.stack}/{self.model}-v{self.version}"

    @property
    def title(self) -> str:
        return f"Promote {self.model} v{self.version} to {self.stack}"

    def description(self) -> str:
        rows = "\n".join(f"| `{name}` | {self.metrics[name]:.4f} |" for name in METRICS if name in self.metrics)
        return "\n".join([
            f"Serve **{self.model} v{self.version}**, the `champion` of the {self.stack} registry, in `{self.stack}`.",
            "",
            f"- `{KEY}`: `{self.current_uri or '(none)'}` → `{self.new_uri}`",
            f"- Gate: {self.gate or '(no gate tag on this version)'}",
            f"- MLflow run: `{self.run_id}`",
            f"- Served by the model server image `{self.serving_image}` (registered for `{self.recorded_image or 'unknown'}`); "
            "its lock has every version the model records",
            "",
            "| metric (held-out data) | value |",
            "|---|---:|",
            rows,
            "",
            "Proposed by `python -m pipelines.promote`; merging deploys it (the preview diff below shows the release change).",
        ])


def stack_file(stack: str, stacks_dir: Path) -> Path:
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise PromotionError(f"no stack file {path}; give an existing stack")
    return path


def _value(text: str, key: str) -> str | None:
    match = re.search(rf"^  {re.escape(key)}:[ \t]*(.*?)[ \t]*$", text, re.MULTILINE)
    return match.group(1).strip("\"'") if match else None


def rewrite(text: str, uri: str) -> str:
    """The stack file with ``servingStorageUri`` set to ``uri``: that one line changes (or is added under config:)."""
    line = f"  {KEY}: {uri}"
    if _value(text, KEY) is not None:
        return re.sub(rf"^  {re.escape(KEY)}:.*$", line.replace("\\", "\\\\"), text, count=1, flags=re.MULTILINE)
    if not re.search(r"^config:[ \t]*$", text, re.MULTILINE):
        raise PromotionError("the stack file has no `config:` section to add servingStorageUri to")
    return re.sub(r"^config:[ \t]*$", f"config:\n{line}", text, count=1, flags=re.MULTILINE)


def propose(stack: str, tracking_uri: str, artifacts_bucket: str, stacks_dir: Path = ROOT / "stacks",
            model: str = DEFAULT_MODEL_NAME, serving: dict[str, str] | None = None, for_helm: bool = False) -> Proposal:
    """Read ``model``'s champion from the registry and the stack file; decide the new servingStorageUri.

    ``serving``: the model server image's versions (default: its lock, requirements/serving.lock); a champion
    that records any other version of a package it needs is refused. ``for_helm``: only the URI is wanted (a
    helm-owned stack's `helm upgrade`), so a stack whose release is helm's is not refused."""
    import mlflow
    from mlflow.exceptions import MlflowException

    text = stack_file(stack, stacks_dir).read_text()
    if _value(text, "mlplatform:servingOwner") == "helm" and not for_helm:
        raise PromotionError(f"{stack} has servingOwner: helm: ML engineers promote with `helm upgrade`, not the stack file")
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    try:
        champion = client.get_model_version_by_alias(model, "champion")
        download = client.get_model_version_download_uri(model, champion.version)
        run = client.get_run(champion.run_id)
        requirements = Path(mlflow.artifacts.download_artifacts(f"{download}/requirements.txt", tracking_uri=tracking_uri)).read_text()
    except MlflowException as error:
        raise PromotionError(f"no champion of {model!r} in the registry at {tracking_uri}: {error.message.splitlines()[0]}") from None
    differences = serving_image.requirement_differences(requirements, serving if serving is not None else serving_image.serving_versions())
    if differences:
        raise PromotionError(
            f"{model} v{champion.version} was trained with {', '.join(differences)}: the model server image "
            f"{serving_image.content_tag()} ({serving_image.LOCK}) would not load it as trained; retrain it with this "
            "checkout's pipelines, or bring the lock in step with the training one (make lock)"
        )
    return Proposal(
        stack=stack, model=model, version=str(champion.version), current_uri=_value(text, KEY) or "",
        new_uri=served_uri(artifacts_bucket, download), metrics=dict(run.data.metrics),
        gate=champion.tags.get("gate", ""), run_id=champion.run_id,
        recorded_image=champion.tags.get(serving_image.MODEL_TAG, ""), serving_image=serving_image.content_tag(),
    )


def _run(*args: str, cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = ((result.stderr or result.stdout).strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise PromotionError(f"`{' '.join(args[:3])}` failed: {last}")


def open_pull_request(proposal: Proposal, path: Path, base: str) -> None:
    """Commit the stack file on the proposal's branch, push it and open the pull request (gh)."""
    repo = path.parent.parent
    _run("git", "switch", "-c", proposal.branch, cwd=repo)
    _run("git", "add", str(path.relative_to(repo)), cwd=repo)
    _run("git", "commit", "-m", proposal.title, "-m", f"{KEY}: {proposal.new_uri}", cwd=repo)
    _run("git", "push", "--set-upstream", "origin", proposal.branch, cwd=repo)
    _run("gh", "pr", "create", "--base", base, "--head", proposal.branch, "--title", proposal.title,
         "--body", proposal.description(), cwd=repo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the stack to serve the champion in (stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--tracking-uri", required=True, help="the environment's MLflow (for example a port-forward)")
    parser.add_argument("--artifacts-bucket", required=True, help="the stack's artifacts bucket (stack output artifactsBucket)")
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME, help=f"the registered model (default {DEFAULT_MODEL_NAME})")
    parser.add_argument("--stacks-dir", type=Path, default=ROOT / "stacks", help=argparse.SUPPRESS)
    parser.add_argument("--open-pr", action="store_true", help="commit on a branch, push it and open the pull request (gh)")
    parser.add_argument("--base", default="main", help="the pull request's base branch (default main)")
    parser.add_argument("--print-uri", action="store_true",
                        help="only print the champion's s3:// URI (for a `helm upgrade --set model.storageUri=...`); change nothing")
    args = parser.parse_args(argv)
    try:
        # --print-uri only looks the champion up (for a `helm upgrade`): it works on a helm-owned stack too.
        proposal = propose(args.stack, args.tracking_uri, args.artifacts_bucket, args.stacks_dir, args.model, for_helm=args.print_uri)
        if args.print_uri:
            print(proposal.new_uri)
            return 0
        if not proposal.changes:
            print(f"{args.stack} already serves {proposal.model} v{proposal.version} ({proposal.new_uri}); nothing to propose")
            return 0
        path = stack_file(args.stack, args.stacks_dir)
        path.write_text(rewrite(path.read_text(), proposal.new_uri))
        if args.open_pr:
            open_pull_request(proposal, path, args.base)
        print(f"{proposal.title}: {KEY} -> {proposal.new_uri}\n")
        print(proposal.description())
    except PromotionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
