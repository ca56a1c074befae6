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


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_actions_are_pinned_and_permissions_least_privilege(name: str) -> None:
    """Every action is pinned to an exact version or SHA; the default token is read-only."""
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
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
    assert preview["needs"] == ["test"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    steps = {step["uses"].split("@")[0]: step for step in preview["steps"] if "uses" in step}
    assert "role-to-assume" in steps["aws-actions/configure-aws-credentials"]["with"]
    pulumi = steps["pulumi/actions"]["with"]
    assert pulumi["command"] == "preview" and pulumi["diff"] is True and pulumi["comment-on-pr"] is True
    assert pulumi["policyPacks"] == "policies" and pulumi["stack-name"] == "${{ matrix.stack }}"
    assert "AWS_ACCESS_KEY_ID" not in (WORKFLOWS / "pr.yml").read_text()
    offline = " ".join(step.get("run", "") for step in jobs["offline-preview"]["steps"])
    assert "infra.preview_diff" in offline and "GITHUB_STEP_SUMMARY" in offline


def test_deploy_workflow_gates_prod_behind_staging_and_an_environment() -> None:
    """Main deploys staging, then prod in the protected `prod` environment; the chart publishes on a version bump."""
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    jobs = workflow["jobs"]
    assert jobs["staging"]["needs"] == ["test"] and jobs["staging"]["environment"] == "staging"
    assert jobs["prod"]["needs"] == ["staging"] and jobs["prod"]["environment"] == "prod"
    for stage in ("staging", "prod"):
        up = next(s for s in jobs[stage]["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
        assert up["with"]["command"] == "up" and up["with"]["stack-name"] == stage and up["with"]["policyPacks"] == "policies"
    publish = jobs["publish-chart"]
    assert publish["permissions"] == {"contents": "read", "packages": "write"}
    assert any("helm push" in step.get("run", "") for step in publish["steps"])
    assert any(step.get("id") == "bump" for step in publish["steps"])
