"""The GitHub Actions workflows: parse them and check the job graph, pinning and permissions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w.-]+)*@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on:` as True
    return workflow


ALL = sorted(path.name for path in WORKFLOWS.glob("*.yml"))
# Reusable workflows of this repository, called by path.
LOCAL_WORKFLOW = re.compile(r"^\./\.github/workflows/[\w-]+\.yml$")


@pytest.mark.parametrize("name", ALL)
def test_actions_are_pinned_and_permissions_least_privilege(name: str) -> None:
    """Every action is pinned to an exact version or SHA; the default token is read-only."""
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
        if "uses" in job:
            assert LOCAL_WORKFLOW.match(job["uses"]) and (WORKFLOWS.parent.parent / job["uses"]).exists(), job["uses"]
            continue
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{name}:{job_name} uses {step['uses']}"
        for scope, access in job.get("permissions", {}).items():
            assert access in ("read", "write", "none"), (job_name, scope)
        assert job.get("timeout-minutes"), f"{name}:{job_name} has no timeout"


def test_pr_workflow_previews_every_stack_with_the_policy_pack() -> None:
    """PRs run tests, chart and pipeline checks, then a per-stack preview with OIDC credentials and PR comments."""
    workflow = load("pr.yml")
    assert "pull_request" in workflow["on"]
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in workflow["concurrency"]["group"]
    jobs = workflow["jobs"]
    assert {"test", "chart", "pipelines", "offline-preview", "preview"} <= set(jobs)
    preview = jobs["preview"]
    assert preview["needs"] == ["test", "runners"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    steps = {step["uses"].split("@")[0]: step for step in preview["steps"] if "uses" in step}
    assert "role-to-assume" in steps["aws-actions/configure-aws-credentials"]["with"]
    pulumi = steps["pulumi/actions"]["with"]
    assert pulumi["command"] == "preview" and pulumi["diff"] is True and pulumi["comment-on-pr"] is True
    assert pulumi["policyPacks"] == "policies" and pulumi["stack-name"] == "${{ matrix.stack }}"
    assert "AWS_ACCESS_KEY_ID" not in (WORKFLOWS / "pr.yml").read_text()
    offline = " ".join(step.get("run", "") for step in jobs["offline-preview"]["steps"])
    assert "tooling.preview_diff" in offline and "GITHUB_STEP_SUMMARY" in offline


def test_deploy_workflow_gates_prod_behind_staging_and_an_environment() -> None:
    """Main deploys staging, then prod in the protected `prod` environment; the chart publishes on a version bump."""
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    jobs = workflow["jobs"]
    assert jobs["staging"]["needs"] == ["test", "runners"] and jobs["staging"]["environment"] == "staging"
    assert jobs["prod"]["needs"] == ["staging", "runners"] and jobs["prod"]["environment"] == "prod"
    for stage in ("staging", "prod"):
        steps = jobs[stage]["steps"]
        ups = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("pulumi/actions@") and s.get("with", {}).get("command") == "up"]
        for index in ups:
            up = steps[index]["with"]
            assert up["stack-name"] == stage and up["policyPacks"] == "policies"
        # The step image is published before the first up (the program finds it by its content tag, as every
        # preview does: no digest is set only here); on a stack's first deploy (no repository yet) after it,
        # then the stack is brought up again.
        image = next(i for i, s in enumerate(steps) if s.get("id") == "image")
        assert f"scripts/publish_step_image.sh {stage}" in steps[image]["run"] and image < ups[0]
        assert not any("pipelineStepImageDigest" in s.get("run", "") for s in steps)
        serving = next(i for i, s in enumerate(steps) if s.get("id") == "serving-image")
        assert f"scripts/publish_image.sh serving {stage}" in steps[serving]["run"] and serving < ups[0]
        assert not any("servingImageDigest" in s.get("run", "") for s in steps)
        features = next(i for i, s in enumerate(steps) if s.get("id") == "feature-image")
        assert f"scripts/publish_image.sh features {stage}" in steps[features]["run"] and features < ups[0]
        assert not any("pipelineFeatureImageDigest" in s.get("run", "") for s in steps)
        first = next(i for i, s in enumerate(steps) if s.get("id") == "first-image")
        either = ("steps.image.outputs.digest == '' || steps.serving-image.outputs.digest == '' || "
                  "steps.feature-image.outputs.digest == ''")
        assert ups[0] < first < ups[1] and steps[ups[1]]["if"] == steps[first]["if"] == either
        assert all(f"{script} {stage}" in steps[first]["run"]
                   for script in ("publish_step_image.sh", "publish_image.sh serving", "publish_image.sh features"))
    publish = jobs["publish-chart"]
    assert publish["permissions"] == {"contents": "read", "packages": "write"}
    assert any("helm push" in step.get("run", "") for step in publish["steps"])
    assert any(step.get("id") == "bump" for step in publish["steps"])


def test_step_image_script_tags_by_content_and_pushes_by_digest() -> None:
    """The publish script uses each image's content tag, reuses a pushed image, and prints the digest it pins."""
    scripts = WORKFLOWS.parents[1] / "scripts"
    script = (scripts / "publish_image.sh").read_text()
    assert "steps) output=stepImageRepository; dockerfile=pipelines/Dockerfile; module=pipelines.image ;;" in script
    assert "serving) output=servingImageRepository; dockerfile=serving/Dockerfile; module=pipelines.serving_image ;;" in script
    assert 'python3 -m "$module" tag' in script
    assert "aws ecr describe-images" in script and "imageDigest" in script
    assert 'docker buildx build -f "$dockerfile"' in script and "--push" in script
    assert "containerimage.digest" in script
    assert 'publish_image.sh" steps' in (scripts / "publish_step_image.sh").read_text()


RUNS_ON = re.compile(r"\$\{\{ fromJSON\(needs\.runners\.outputs\.labels\)(?:\[(?:matrix|inputs)\.stack\]|\.(?P<stack>[\w-]+)) \}\}")


def _stacks_reached(workflow: dict, job: dict) -> set[str]:
    """The stacks whose cluster a job reaches: a pulumi command (preview, up), the step image script, or a stack's outputs."""
    stacks: set[str] = set()
    for step in job.get("steps", []):
        target = ""
        run = step.get("run", "")
        if step.get("uses", "").startswith("pulumi/actions@") and step.get("with", {}).get("command"):
            target = step["with"]["stack-name"]
        elif "publish_step_image.sh" in run or "publish_image.sh" in run:
            target = re.search(r"publish_(?:step_image\.sh|image\.sh (?:steps|serving|features))\s+([^\s)]+)", run).group(1)
        elif "pulumi stack output" in run or "kubectl" in run:
            target = "${{ inputs.stack }}"
        if target == "${{ matrix.stack }}":
            stacks |= set(job["strategy"]["matrix"]["stack"])
        elif target == "${{ inputs.stack }}":
            stacks |= set(workflow["on"]["workflow_dispatch"]["inputs"]["stack"]["options"])
        elif target:
            stacks.add(target)
    return stacks


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml", "promote.yml"])
def test_cluster_jobs_run_where_each_stacks_api_is_reachable(name: str) -> None:
    """Each job that previews, deploys or promotes a stack runs on that stack's runner (from its stack file); every other job on a hosted one."""
    from tooling import ci_runners, offline

    labels = ci_runners.runner_labels()
    workflow = load(name)
    assert workflow["jobs"]["runners"] == {"uses": "./.github/workflows/runners.yml"}
    (labeller,) = load("runners.yml")["jobs"].values()
    assert labeller["runs-on"] == "ubuntu-24.04"
    assert any("python -m tooling.ci_runners" in step.get("run", "") for step in labeller["steps"])
    reached_any = False
    for job_name, job in workflow["jobs"].items():
        if job_name == "runners":
            continue
        stacks = _stacks_reached(workflow, job)
        if not stacks:
            assert job["runs-on"] == "ubuntu-24.04", f"{name}:{job_name} reaches no cluster: a hosted runner"
            continue
        reached_any = True
        match = RUNS_ON.fullmatch(job["runs-on"])
        assert match and "runners" in job["needs"], f"{name}:{job_name} runs-on {job['runs-on']}"
        for stack in stacks:
            resolved = labels[match.group("stack") or stack]
            settings = offline.settings_of(stack)[1]
            assert resolved == list(settings.ci_runner), (job_name, stack)
            if not settings.cluster.endpoint_open_to_internet:
                assert "self-hosted" in resolved, f"{name}:{job_name}: a hosted runner cannot reach {stack}'s API"
    assert reached_any


def test_promote_workflow_opens_the_pull_request_with_a_token_that_triggers_checks() -> None:
    """workflow_dispatch per stack; the proposal is pushed and opened with PROMOTION_TOKEN (GITHUB_TOKEN's PRs run no workflow)."""
    workflow = load("promote.yml")
    assert workflow["on"]["workflow_dispatch"]["inputs"]["stack"]["options"] == ["dev", "staging", "prod"]
    job = workflow["jobs"]["propose"]
    checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["token"] == "${{ secrets.PROMOTION_TOKEN }}"
    (propose,) = [step for step in job["steps"] if "pipelines.promote" in step.get("run", "")]
    assert "--open-pr" in propose["run"] and propose["env"]["GH_TOKEN"] == "${{ secrets.PROMOTION_TOKEN }}"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_ci_runs_the_conformance_suite_it_cannot_skip(name: str) -> None:
    """Every job that runs `make test` fetches the pinned upstream sources first (cached by the pins) and sets
    MLPLATFORM_REQUIRE_UPSTREAM, so the conformance suite runs on GitHub instead of skipping."""
    from tests.conformance.conftest import REQUIRE_UPSTREAM

    jobs = [job for job in load(name)["jobs"].values() if any(step.get("run") == "make test" for step in job.get("steps", []))]
    assert jobs, f"{name} runs no `make test`"
    for job in jobs:
        steps = job["steps"]
        test = next(i for i, step in enumerate(steps) if step.get("run") == "make test")
        fetch = next(i for i, step in enumerate(steps) if step.get("run") == "make upstream")
        (cache,) = [step for step in steps[:fetch] if step.get("uses", "").startswith("actions/cache@")]
        assert cache["with"]["path"] == ".upstream" and "infra/versions.py" in cache["with"]["key"]
        assert fetch < test and steps[test]["env"][REQUIRE_UPSTREAM] == "1"


def test_without_upstream_sources_conformance_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without the sources skips the conformance suite with one line; with MLPLATFORM_REQUIRE_UPSTREAM set it fails."""
    from tests.conformance import conftest
    from tooling import render

    monkeypatch.setattr(render, "upstream_root", lambda: None)
    monkeypatch.delenv(conftest.REQUIRE_UPSTREAM, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no upstream sources"):
        conftest.upstream_or_skip()
    monkeypatch.setenv(conftest.REQUIRE_UPSTREAM, "1")
    with pytest.raises(pytest.fail.Exception, match="MLPLATFORM_REQUIRE_UPSTREAM is set and no upstream sources"):
        conftest.upstream_or_skip()


REGION = re.compile(r"^\$\{\{ fromJSON\(needs\.runners\.outputs\.regions\)(?:\[(?:matrix|inputs)\.stack\]|\.(?P<stack>[\w-]+)) \}\}$")


@pytest.mark.parametrize("name", ALL)
def test_each_job_gets_credentials_in_its_stacks_region(name: str) -> None:
    """No workflow writes a region: each AWS credential step takes the region of the stack its job reaches, from the
    stack file (tooling/ci_runners.py --regions), as its runs-on takes that stack's runner."""
    from tooling import ci_runners

    workflow = load(name)
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
                match = REGION.match(step["with"]["aws-region"])
                assert match, step["with"]["aws-region"]
                runs_on = RUNS_ON.match(job["runs-on"])
                assert runs_on and runs_on.group("stack") == match.group("stack"), job["runs-on"]
    assert set(ci_runners.regions()) == set(ci_runners.runner_labels()) and ci_runners.regions()["staging"] == "us-east-1"
    (labeller,) = load("runners.yml")["jobs"].values()
    assert any(step.get("run", "").endswith("python -m tooling.ci_runners --regions)\" >> \"$GITHUB_OUTPUT\"") for step in labeller["steps"])


@pytest.mark.parametrize("name", ALL)
def test_the_pulumi_cli_is_the_sdks_version(name: str) -> None:
    """Every workflow installs the Pulumi CLI at the version of the SDK the program is locked to (requirements/infra.lock),
    never whatever is latest on the day."""
    (locked,) = re.findall(r"^pulumi==([\d.]+)", (WORKFLOWS.parents[1] / "requirements" / "infra.lock").read_text(), re.M)
    for job in load(name)["jobs"].values():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("pulumi/actions@"):
                assert step["with"]["pulumi-version"] == locked, step


def test_the_offline_diff_is_a_pr_comment_edited_in_place() -> None:
    """The offline preview diff goes to the job summary and, on a same-repository PR, into one PR comment updated per push."""
    job = load("pr.yml")["jobs"]["offline-preview"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    (comment,) = [step for step in job["steps"] if "gh pr comment" in step.get("run", "")]
    assert "--edit-last --create-if-none" in comment["run"] and "--body-file preview.md" in comment["run"]
    assert comment["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert any("GITHUB_STEP_SUMMARY" in step.get("run", "") for step in job["steps"])
