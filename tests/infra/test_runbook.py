"""The README's runbook (first real deploy, upgrading, teardown) names only things that exist, and its figures are
the tools' own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tooling import cost, offline
from tooling.snapshot import snapshot

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SECTIONS = ("## First real deploy", "## Tear it down", "## Upgrading")


def section(title: str) -> str:
    return README.split(title, 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("title", SECTIONS)
def test_every_target_key_path_and_module_the_runbook_names_exists(title: str) -> None:
    """Each `make` target, `mlplatform:` config key, repository path and `python -m` module a runbook section names is real."""
    text = section(title)
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    keys = set(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])
    named_targets = set(re.findall(r"\bmake ([a-z][\w-]*)", text))
    named_keys = {key.split("[")[0] for key in re.findall(r"mlplatform:([A-Za-z]+(?:\[\d+\])?)", text)}
    named_keys |= {key for key in re.findall(r"`([a-z][A-Za-z]+)`", text) if key in keys or key.endswith(("Arn", "Arns", "Cidrs", "Access"))}
    paths = {p.rstrip(".,:;)") for p in re.findall(r"\b((?:infra|bootstrap|tooling|scripts|stacks|requirements|pipelines|tests|charts|policies|\.github)/[\w./-]+)", text)}
    modules = set(re.findall(r"python -m ([\w.]+)", text))
    assert named_targets <= targets, named_targets - targets
    assert named_keys <= keys, named_keys - keys
    assert [p for p in paths if "<" not in p and not (ROOT / p).exists() and not list(ROOT.glob(p))] == []
    assert [m for m in modules if not (ROOT / m.replace(".", "/")).with_suffix(".py").exists() and not (ROOT / m.replace(".", "/")).is_dir()] == []
    assert named_targets or named_keys or paths, f"{title} names nothing checkable"


def test_the_runbooks_monthly_costs_are_what_the_diff_computes() -> None:
    """The cost table of "First real deploy" is `tooling/cost.py` over each stack, at the committed prices."""
    table = dict(re.findall(r"^\| (dev|staging|prod) \| (\$[\d,]+ \| \$[\d,]+) \|$", section("## First real deploy"), re.M))
    assert set(table) == {"dev", "staging", "prod"}
    for stack, shown in table.items():
        lines = cost.estimate(json.loads(json.dumps(snapshot(offline.run(stack)), default=str)), offline.settings_of(stack)[1].aws_region)
        desired, maximum = cost.total(lines)
        assert not cost.unpriced(lines) and shown == f"${desired:,.0f} | ${maximum:,.0f}", stack


def test_the_runbooks_pulumi_cli_is_the_locked_sdk() -> None:
    """The Pulumi CLI version the runbook asks for is the SDK's in requirements/infra.lock (the workflows install it too)."""
    (locked,) = re.findall(r"^pulumi==([\d.]+)", (ROOT / "requirements" / "infra.lock").read_text(), re.M)
    assert f"Pulumi CLI {locked}" in section("## First real deploy")


def test_the_chart_readmes_stack_file_canary_is_valid_config() -> None:
    """The serving chart README's stack-file canary (placeholders filled) is a valid staging config that runs a canary."""
    readme = (ROOT / "charts" / "model-serving" / "README.md").read_text()
    (block,) = re.findall(r"```yaml\n\s*# stacks/Pulumi\.staging\.yaml\n(.*?)```", readme, re.S)
    example = yaml.safe_load(re.sub(r"<[^>]+>", lambda m: "0f" * 16 if "id" in m.group() else "mlp-staging-artifacts-123456789012",
                                    block))
    overrides = {key.removeprefix("mlplatform:"): value for key, value in example.items()}
    assert set(overrides) == {"servingPredictorName", "servingCanaryName", "servingCanaryStorageUri", "servingCanaryPercent"}
    _, settings = offline.settings_of("staging", overrides)
    assert (settings.serving.canary_name, settings.serving.canary_percent) == ("v2", 10)
