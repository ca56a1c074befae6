"""Promotion as a reviewed change: the champion of a real MLflow registry (the demo's) proposed as a stack's served model."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from pipelines import promote
from pipelines.fraud.pipeline import DEFAULT_MODEL_NAME

# These tests run on one worker, after its other tests: the demo's run is ready by then (conftest.py).
pytestmark = pytest.mark.xdist_group("after-demo")

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "mlp-staging-artifacts-123456789012"


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    """A copy of the stack files, in a git repository with a remote (as the workflow's checkout is)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "stacks", repo / "stacks")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "remote.git")], check=True)
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "base"],
                    ["remote", "add", "origin", str(tmp_path / "remote.git")], ["config", "user.name", "t"],
                    ["config", "user.email", "t@example.com"]):
        subprocess.run([*git, *command], cwd=repo, check=True)
    return repo / "stacks"


def test_proposes_the_champions_s3_uri_and_changes_only_that_line(tracking_uri: str, runs: dict, stacks: Path) -> None:
    """The new servingStorageUri is the champion's artifacts under the bucket MLflow writes to; nothing else in the file moves."""
    before = (stacks / "Pulumi.staging.yaml").read_text()
    proposal = promote.propose("staging", tracking_uri, BUCKET, stacks)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    champion = client.get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion")
    assert proposal.version == str(champion.version) == str(runs["first"].version)
    download = client.get_model_version_download_uri(DEFAULT_MODEL_NAME, champion.version)
    assert download.startswith("mlflow-artifacts:/")
    assert proposal.new_uri == f"s3://{BUCKET}/mlflow/{download.removeprefix('mlflow-artifacts:/')}"
    assert proposal.current_uri == promote._value(before, promote.KEY) and proposal.changes
    after = promote.rewrite(before, proposal.new_uri)
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [(f"  {promote.KEY}: {proposal.current_uri}", f"  {promote.KEY}: {proposal.new_uri}")]


def test_the_description_has_the_metrics_and_the_gate_verdict(tracking_uri: str, runs: dict, stacks: Path) -> None:
    """A reviewer sees the champion's held-out metrics and why the gate promoted it."""
    proposal = promote.propose("staging", tracking_uri, BUCKET, stacks)
    run = mlflow.MlflowClient(tracking_uri=tracking_uri).get_run(proposal.run_id)
    text = proposal.description()
    assert f"| `test_roc_auc` | {run.data.metrics['test_roc_auc']:.4f} |" in text
    assert f"- Gate: {runs['first'].gate_reason}" in text and runs["first"].gate_reason.startswith("promoted:")
    assert proposal.new_uri in text and proposal.current_uri in text


def test_open_pr_commits_on_a_branch_and_calls_gh(tracking_uri: str, stacks: Path, tmp_path: Path) -> None:
    """--open-pr: one commit with the stack file on promote/<stack>/<model>-v<N>, pushed, and `gh pr create` with the description."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_gh = bin_dir / "gh"
    fake_gh.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path / 'gh-args'}\n")
    fake_gh.chmod(fake_gh.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.promote", "--stack", "staging", "--tracking-uri", tracking_uri,
         "--artifacts-bucket", BUCKET, "--stacks-dir", str(stacks), "--open-pr"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    repo = stacks.parent
    branch = subprocess.run(["git", "branch", "--show-current"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    assert branch.startswith(f"promote/staging/{DEFAULT_MODEL_NAME}-v")
    files = subprocess.run(["git", "show", "--name-only", "--format=", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    assert files == ["stacks/Pulumi.staging.yaml"]
    remote = subprocess.run(["git", "ls-remote", "--heads", "origin", branch], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert branch in remote
    args = (tmp_path / "gh-args").read_text()
    assert args.startswith("pr\ncreate\n") and f"--head\n{branch}" in args and "test_roc_auc" in args


def test_nothing_to_propose_when_the_champion_is_served(tracking_uri: str, stacks: Path) -> None:
    """Run again after the change: the stack already serves the champion, and the file is left alone."""
    proposal = promote.propose("staging", tracking_uri, BUCKET, stacks)
    path = stacks / "Pulumi.staging.yaml"
    path.write_text(promote.rewrite(path.read_text(), proposal.new_uri))
    assert promote.main(["--stack", "staging", "--tracking-uri", tracking_uri, "--artifacts-bucket", BUCKET,
                         "--stacks-dir", str(stacks)]) == 0
    assert not promote.propose("staging", tracking_uri, BUCKET, stacks).changes


def test_no_champion_is_one_line(tracking_uri: str, stacks: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model with no champion in the registry: exit 2 and one line, the stack file untouched."""
    path = stacks / "Pulumi.staging.yaml"
    before = path.read_text()
    code = promote.main(["--stack", "staging", "--tracking-uri", tracking_uri, "--artifacts-bucket", BUCKET, "--stacks-dir", str(stacks),
                         "--model", "nosuch"])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and error[0].startswith("error: no champion of 'nosuch'"), error
    assert path.read_text() == before


def test_champion_records_the_serving_image_and_its_lock_has_the_champions_versions(tracking_uri: str, stacks: Path) -> None:
    """Registered models say which model server image serves them (its content tag), and promotion names it."""
    from pipelines import serving_image

    champion = mlflow.MlflowClient(tracking_uri=tracking_uri).get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion")
    assert champion.tags[serving_image.MODEL_TAG] == serving_image.content_tag()
    proposal = promote.propose("staging", tracking_uri, BUCKET, stacks)
    assert proposal.recorded_image == proposal.serving_image == serving_image.content_tag()
    assert f"`{serving_image.content_tag()}`" in proposal.description()


def test_promotion_refuses_a_champion_the_serving_image_would_load_with_other_versions(tracking_uri: str, stacks: Path) -> None:
    """A serving lock with the stock MLServer image's numpy (1.26.4) refuses the champion in one line naming numpy."""
    from pipelines import serving_image

    served = serving_image.serving_versions()
    with pytest.raises(promote.PromotionError) as refused:
        promote.propose("staging", tracking_uri, BUCKET, stacks, serving={**served, "numpy": "1.26.4"})
    message = str(refused.value)
    assert f"numpy=={served['numpy']} (the serving image has 1.26.4)" in message and "\n" not in message, message
    assert "scikit-learn" not in message and "make lock" in message


def test_print_uri_names_the_layout_mlflow_writes_and_changes_nothing(tracking_uri: str, stacks: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """--print-uri prints the champion's s3:// URI, in the layout MLflow writes (mlflow/<experiment>/models/m-<id>/artifacts)."""
    import re

    path = stacks / "Pulumi.dev.yaml"
    before = path.read_text()
    assert promote.main(["--stack", "dev", "--tracking-uri", tracking_uri, "--artifacts-bucket", BUCKET, "--stacks-dir", str(stacks),
                         "--print-uri"]) == 0
    (printed,) = capsys.readouterr().out.split()
    assert re.fullmatch(rf"s3://{BUCKET}/mlflow/\d+/models/m-[0-9a-f]{{32}}/artifacts", printed), printed
    assert printed == promote.propose("dev", tracking_uri, BUCKET, stacks, for_helm=True).new_uri and path.read_text() == before
