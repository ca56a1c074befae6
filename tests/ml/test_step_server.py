"""Warm local steps (pipelines/step_server.py): a step run as a fork of the server behaves as the process kfp.local
would have started (arguments, streams, directory, environment, exit status), and kfp.local really runs through it.

No postponed annotations: KFP reads the component's.
"""

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kfp import dsl, local

from pipelines import step_server

ROOT = Path(__file__).resolve().parents[2]
# A module the forks run with -m: what it saw, on stdout and stderr, and the exit status it was asked for.
PROBE = """
import os, sys
print("argv", sys.argv[1:])
print("cwd", os.getcwd())
print("env", os.environ.get("PROBE_VALUE"), "PROBE_UNSET" in os.environ)
print("stdin", sys.stdin.read().strip())
print("to stderr", file=sys.stderr)
print("preloaded", "sklearn.ensemble" in sys.modules)
if sys.argv[1:] == ["raise"]:
    raise ValueError("probe failed")
if sys.argv[1:] == ["kill"]:
    os.kill(os.getpid(), 9)
sys.exit(int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0)
"""


SOCKETS: list[str] = []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running server whose forks can import the probe module; yields its client (the steps' "interpreter")."""
    modules = tmp_path_factory.mktemp("probe")
    (modules / "step_probe.py").write_text(PROBE)
    before = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(modules), before]))
    folder = tmp_path_factory.mktemp("steps")
    try:
        with step_server.step_server(folder) as socket_path:
            SOCKETS.append(socket_path)
            deadline = time.monotonic() + 120
            while step_server.LOADED not in (folder / "step-server.log").read_text():
                assert time.monotonic() < deadline, "the step server did not finish loading in 120 s"
                time.sleep(0.1)
            yield Path(os.environ[step_server.CLIENT_ENV])
    finally:
        os.environ["PYTHONPATH"] = before


def probe(client: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROBE_VALUE": "from-the-step"}
    env.pop("PROBE_UNSET", None)
    return subprocess.run([str(client), "-m", "step_probe", *args], cwd=cwd, env=env, input="from stdin\n",
                          capture_output=True, text=True, timeout=120)


def test_a_fork_gets_the_steps_arguments_streams_directory_and_environment(server: Path, tmp_path: Path) -> None:
    os.environ["PROBE_UNSET"] = "the server's environment, not the step's"
    try:
        result = probe(server, "--executor_input", "{}", cwd=tmp_path)
    finally:
        del os.environ["PROBE_UNSET"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "argv ['--executor_input', '{}']" in lines
    assert f"cwd {tmp_path}" in lines
    assert "env from-the-step False" in lines
    assert "stdin from stdin" in lines
    assert result.stderr.strip() == "to stderr"
    # A fork of the warm interpreter: the libraries are there before the step imports them.
    assert "preloaded True" in lines


@pytest.mark.parametrize(("args", "code", "stderr"), [(("3",), 3, ""), (("raise",), 1, "ValueError: probe failed"),
                                                      (("kill",), 128 + 9, "")])
def test_the_client_exits_with_the_steps_status(server: Path, args: tuple[str, ...], code: int, stderr: str) -> None:
    result = probe(server, *args)
    assert result.returncode == code
    assert stderr in result.stderr


def test_a_request_dropped_before_its_step_starts_leaves_the_server_serving(server: Path) -> None:
    """A client that hangs up mid-request, or sends no streams, is dropped (a line in the server's log); the next step
    still runs in a fork."""
    for message in (b"\x00" * 3, b"\x00" * 8):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(SOCKETS[-1])
            client.sendall(message)
    result = probe(server, "5")
    assert result.returncode == 5 and "preloaded True" in result.stdout, result.stderr


def test_without_a_server_the_client_runs_the_real_interpreter(tmp_path: Path) -> None:
    """No server listening (or a command line other than -m): the step still runs, as a new interpreter."""
    client = tmp_path / "python"
    client.write_text(step_server._CLIENT.format(python=sys.executable, root=str(ROOT), socket=str(tmp_path / "none.sock")))
    client.chmod(0o755)
    result = subprocess.run([str(client), "-c", "import sys; print(sys.executable); sys.exit(4)"], capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (4, sys.executable)
    cold = subprocess.run([str(client), "-m", "json.tool"], input='{"a": 1}', capture_output=True, text=True, timeout=60)
    assert cold.returncode == 0 and '"a": 1' in cold.stdout


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def warm_check() -> str:
    import sys

    return f"{'mlflow' in sys.modules} {sys.argv[0]}"


@dsl.pipeline
def warm_pipeline() -> str:
    return warm_check().output


def test_kfp_local_runs_its_steps_through_the_server(server: Path, tmp_path: Path) -> None:
    """kfp.local (as pipelines/run.py runs it) starts the step through the client, and the step is a fork of the
    server (MLflow already imported); outside interpreter() it is a new interpreter again."""
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path), raise_on_error=True)
    with step_server.interpreter() as warm:
        assert warm
        preloaded, executor = warm_pipeline().output.split()
    assert (preloaded, Path(executor).name) == ("True", "executor_main.py")
    assert sys.executable != str(server)
    assert warm_pipeline().output.split()[0] == "False"


def test_the_preloaded_modules_exist() -> None:
    """Every name the server preloads imports in the ML environment (a renamed module would fail the server)."""
    script = textwrap.dedent(f"""
        import importlib
        for name in {step_server.PRELOAD!r}:
            importlib.import_module(name)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
