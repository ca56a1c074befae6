"""The program as the Pulumi engine runs it: ``main: infra/`` makes infra/ the working directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """
import json, sys
sys.path.insert(0, "..")
from tooling import offline
run = offline.run("staging")
print(json.dumps({
    "charts": [r.inputs["chart"] for r in run.of_type("kubernetes:helm.sh/v3:Release")],
    "directories": [r.inputs["directory"] for r in run.of_type("kubernetes:kustomize/v2:Directory")],
}))
"""


def test_program_paths_resolve_from_the_engines_working_directory() -> None:
    """Run from infra/, every local chart and kustomize directory the program names exists relative to infra/."""
    result = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT / "infra", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    declared = json.loads(result.stdout.strip().splitlines()[-1])
    local_charts = [c for c in declared["charts"] if not c.startswith("oci://") and "/" in c]
    assert local_charts == ["../charts/model-serving"]
    assert len(declared["directories"]) == 2
    for path in [*local_charts, *declared["directories"]]:
        assert (ROOT / "infra" / path).is_dir(), f"{path} does not exist from infra/"
        assert not Path(path).is_absolute(), f"{path}: an absolute path differs between machines (and in every diff)"
