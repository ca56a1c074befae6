"""A broken stack file fails `make preview` and `make diff` with one line naming the file and the key, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import config

ROOT = Path(__file__).resolve().parents[2]
STACK_FILE = "stacks/Pulumi.staging.yaml"

# (what a reviewer might type, the line as it is, the line as typed, what the one line must say)
MISTAKES = {
    "yaml-syntax": ("mlplatform:natGateways: single", "mlplatform:natGateways: [single", ["not valid YAML", "line "]),
    "misspelt-namespace": ("mlplatform:servingMaxReplicas: 3", "mlplatfrom:servingMaxReplicas: 3",
                           ["mlplatfrom:servingMaxReplicas", "did you mean mlplatform:servingMaxReplicas"]),
    "invalid-value": ("mlplatform:servingMaxReplicas: 3", "mlplatform:servingMaxReplicas: lots",
                      ["mlplatform:servingMaxReplicas", '"lots"', "integer"]),
}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding the program, its stacks and the pack at one commit (the diff's base)."""
    work = tmp_path_factory.mktemp("checkout")
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "infra", "tooling", "policies", "pipelines", "stacks", "charts", "Pulumi.yaml"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, work / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], cwd=work, check=True)
    return work


@pytest.mark.parametrize("command", [["tooling.preview", "--stack", "staging", "--names"],
                                     ["tooling.preview_diff", "--stack", "staging", "--base", "HEAD"]], ids=["preview", "diff"])
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_broken_stack_file_gives_one_line(checkout: Path, mistake: str, command: list[str]) -> None:
    """Each mistake, in `make preview` and `make diff`: exit 2, one stderr line naming the file and the key."""
    line, typed, expected = MISTAKES[mistake]
    path = checkout / STACK_FILE
    original = path.read_text()
    assert line in original, f"{STACK_FILE} no longer has {line!r}: update the test"
    path.write_text(original.replace(line, typed))
    try:
        result = subprocess.run([sys.executable, "-m", *command], cwd=checkout, capture_output=True, text=True, timeout=120)
    finally:
        path.write_text(original)
    errors = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert errors[0].startswith("error: stack staging: " + STACK_FILE), errors[0]
    for fragment in expected:
        assert fragment in errors[0], (fragment, errors[0])


def test_every_namespace_the_stacks_use_is_read() -> None:
    """The committed stack files use only namespaces something reads; a new provider's namespace is added on purpose."""
    import yaml

    for path in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        config.check_namespaces(yaml.safe_load(path.read_text())["config"])
    with pytest.raises(config.ConfigError, match="did you mean aws:region"):
        config.check_namespaces(["aws:region", "asw:region"])


def test_any_stack_file_under_stacks_works_with_every_tool(tmp_path, monkeypatch, capsys) -> None:
    """A team's own stack file (a copy of staging named sandbox) is a choice of the tools, not only the four examples."""
    import shutil

    from tooling import offline, preview

    (tmp_path / "stacks").mkdir()
    shutil.copy(offline.ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(offline.stack_file("staging"), tmp_path / "stacks" / "Pulumi.sandbox.yaml")
    monkeypatch.setattr(offline, "ROOT", tmp_path)
    assert offline.available_stacks() == ("sandbox",)
    assert preview.main(["--stack", "sandbox", "--outputs-json"]) == 0
    assert '"stack": "sandbox"' in capsys.readouterr().out
