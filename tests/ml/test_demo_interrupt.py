"""Ctrl-C in the middle of `make demo` stops every process the demo started."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from demo.run import STEPS
from tests.ml.processes import leftover_processes

ROOT = Path(__file__).resolve().parents[2]


def test_demo_cleans_up_on_ctrl_c(tmp_path: Path) -> None:
    """Ctrl-C in the middle of the pipeline stops every server the demo started."""
    workdir = tmp_path / ".demo"
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--rows", "6000", "--workdir", str(workdir), "--skip-platform"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = ""
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    while f"[3/{STEPS}]" not in output and time.monotonic() < deadline:
        output += process.stdout.readline()
    assert f"[3/{STEPS}]" in output, output
    assert any("mlflow" in line for line in leftover_processes(workdir)), "the MLflow server should be running now"
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output + rest
    assert "every process the demo started has been stopped" in rest
    time.sleep(1)
    assert leftover_processes(workdir) == []
