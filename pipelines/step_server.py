"""Warm local steps: one interpreter imports the step image's libraries once, and each kfp.local step is a fork of it.

kfp.local (``SubprocessRunner(use_venv=False)``) runs every step as a new process, ``<sys.executable> -m
kfp.dsl.executor_main ...``, the command the step's pod runs. Each imports pandas, scikit-learn and MLflow again:
2-5 s of CPU per step on 2 cores, most of a 20k-row run. Here a server (``python -m pipelines.step_server SOCKET``)
imports :data:`PRELOAD` once; for each step, :func:`interpreter` hands kfp a small client (stdlib only) in place of the
interpreter, which passes the step's arguments, environment, working directory and standard streams to the server.
The server forks; the fork runs kfp's executor module as ``python -m`` would and exits as that process would (its
``atexit`` handlers, its exit status, which the client exits with). The step's code and its imports are the same:
the component's module is written and executed afresh by the executor, as in the pod.

Without a running server (none started, it stopped, or an unexpected command line) the client ``exec``s the real
interpreter, so a step never depends on the server being there.

    with step_server(folder):      # pipelines/run.py: run_pipeline and run_drift use it while it runs
        run_pipeline(...)
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import runpy
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from pipelines.fraud.estimators import OPENMP_ENV

ROOT = Path(__file__).resolve().parent.parent
# The running server's client (the steps' "interpreter", which knows the server's socket), in the environment of the
# process that started the server.
CLIENT_ENV = "MLPLATFORM_STEP_SERVER"
# What the training and drift steps import (the step image's heavy libraries), loaded once by the server, in the order
# the steps first need them (ingest, validate, train, evaluate and register, detect-drift): a step asked for while the
# server is still loading runs at once with what is loaded so far, and imports the rest itself.
PRELOAD = (
    "kfp.dsl.executor_main", "pipelines.features.repo", "pipelines.fraud.frames",
    "numpy", "pandas", "pyarrow.parquet", "pipelines.fraud.contract",
    "sklearn.base", "sklearn.model_selection", "sklearn.compose", "sklearn.ensemble", "sklearn.impute",
    "sklearn.metrics", "sklearn.pipeline", "sklearn.preprocessing", "joblib", "threadpoolctl", "pipelines.fraud.estimators",
    "pipelines.fraud.latency", "matplotlib.pyplot", "requests", "mlflow", "mlflow.sklearn", "mlflow.models",
    "pipelines.mlflow_server", "pipelines.drift.stats", "pipelines.drift.requests",
)
# Set before the server loads them, as in a step: libraries read these when they load, not when they are used.
LOAD_TIME_ENV = {
    # The train step's OpenMP settings (it sets them before scikit-learn loads OpenMP).
    **OPENMP_ENV,
    # The evaluate step draws its curves without a display (it also selects Agg itself).
    "MPLBACKEND": "Agg",
}
# The server's log line once everything is loaded.
LOADED = "step server loaded "
_HEADER = struct.Struct("!Q")
_INT = struct.Struct("!i")
_CLIENT = """#!{python}
import sys
sys.path.insert(0, {root!r})
from pipelines.step_server import run_client
sys.exit(run_client({socket!r}, {python!r}, sys.argv[1:]))
"""


def with_project(pythonpath: str) -> str:
    """``pythonpath`` with this project's root first, where steps import the ``pipelines`` package from (the step
    image's PYTHONPATH holds it too); unchanged when the root is on it already."""
    paths = pythonpath.split(os.pathsep)
    return pythonpath if str(ROOT) in paths else os.pathsep.join(filter(None, [str(ROOT), *paths]))


def serve(socket_path: str, preload: tuple[str, ...] = PRELOAD) -> None:
    """Listen on ``socket_path`` and fork one child per step request until terminated, importing ``preload`` one
    module at a time between requests (a step never waits for the rest of the list).

    One loop, no threads (a fork copies only the forking thread): it accepts requests, reaps exited children, whose
    exit status goes back to their client, and imports the next module.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    pending, started = list(preload), time.perf_counter()
    children: dict[int, socket.socket] = {}
    while True:
        readable, _, _ = select.select([listener], [], [], 0 if pending else 0.05)
        if readable:
            _start(listener, children)
        _reap(children)
        if pending:
            importlib.import_module(pending.pop(0))
            if not pending:
                print(f"{LOADED}{len(preload)} modules in {time.perf_counter() - started:.1f} s", flush=True)


def _start(listener: socket.socket, children: dict[int, socket.socket]) -> None:
    """Accept one request and fork its step. A request that fails before the fork (the client hung up, a malformed
    message, no process left) is dropped with a line in the server's log: its client then starts the step itself."""
    connection, _ = listener.accept()
    fds: list[int] = []
    try:
        request, fds = _receive(connection)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
    except (OSError, ValueError, KeyError) as error:
        print(f"step server: request dropped before its step started: {type(error).__name__}: {error}", flush=True)
        for fd in fds:
            os.close(fd)
        connection.close()
        return
    if pid == 0:
        _child(request, fds, [listener, *children.values()])  # never returns
    for fd in fds:
        os.close(fd)
    with contextlib.suppress(OSError):  # a client gone now still gets its child reaped
        connection.sendall(_INT.pack(pid))
    children[pid] = connection


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    """One request: a length header with the client's three standard streams, then its JSON."""
    header, fds, _, _ = socket.recv_fds(connection, _HEADER.size, 3)
    if len(header) != _HEADER.size or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError(f"expected a {_HEADER.size}-byte header with 3 streams, got {len(header)} bytes and {len(fds)}")
    (length,) = _HEADER.unpack(header)
    payload = _read_exactly(connection, length)
    if payload is None:
        raise ConnectionError("the step client hung up before its request arrived")
    return json.loads(payload), list(fds)


def _reap(children: dict[int, socket.socket]) -> None:
    """Send each exited child's exit status (negative: the signal that ended it) to its client."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = children.pop(pid, None)
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.sendall(_INT.pack(os.waitstatus_to_exitcode(status)))
            connection.close()


def _child(request: dict, fds: list[int], inherited: list[socket.socket]) -> None:
    """In the fork: become the step's process (streams, directory, environment, argv), run its module, exit.

    Never returns, whatever happens: the fork must not go on in the server's loop.
    """
    code = 1
    try:
        for sock in inherited:
            sock.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # Line by line, as the step image's PYTHONUNBUFFERED=1 writes and kfp.local reads them.
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # sys.path as `python -m` builds it: the working directory first, then PYTHONPATH's entries.
        extra = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry and entry not in sys.path]
        sys.path[:1] = [request["cwd"], *extra]
        sys.argv = [request["module"], *request["args"]]
        code = _run_module(request["module"])
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 - the step's process reports and exits, as the interpreter would
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _run_module(module: str) -> int:
    """Run ``module`` as ``__main__`` (``python -m``); its exit status, with an uncaught exception's traceback printed."""
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        if isinstance(exit_.code, int) or exit_.code is None:
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught exception
        traceback.print_exc()
        return 1
    return 0


def run_client(socket_path: str, python: str, argv: list[str]) -> int:
    """The step's "interpreter": ``-m MODULE ARGS...`` runs in a fork of the server; anything else, or no server,
    ``exec``s ``python`` with ``argv``. Returns the step's exit status (a signal's as the shell reports it)."""
    if len(argv) < 2 or argv[0] != "-m":
        os.execv(python, [python, *argv])
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(socket_path)
    except OSError:
        os.execv(python, [python, *argv])
    payload = json.dumps({"module": argv[1], "args": argv[2:], "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    socket.send_fds(connection, [_HEADER.pack(len(payload))], [0, 1, 2])
    connection.sendall(payload)
    pid = _read_int(connection)
    if pid is None:  # the server dropped the request before the step started: start it here
        connection.close()
        os.execv(python, [python, *argv])

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    code = _read_int(connection)
    if code is None:
        print(f"error: the step server stopped while step process {pid} ran", file=sys.stderr)
        return 1
    return 128 - code if code < 0 else code


def _read_exactly(connection: socket.socket, size: int) -> bytes | None:
    """``size`` bytes from ``connection``, or None when the other side hangs up first."""
    data = bytearray()
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _read_int(connection: socket.socket) -> int | None:
    data = _read_exactly(connection, _INT.size)
    return None if data is None else _INT.unpack(data)[0]


@contextlib.contextmanager
def step_server(folder: Path | None = None, log: Path | None = None) -> Iterator[str]:
    """Start a server (it imports :data:`PRELOAD` in the background) and publish its client in :data:`CLIENT_ENV`
    for :func:`interpreter`; stop it, and every step it runs, on exit. Yields the socket's path."""
    with contextlib.ExitStack() as stack:
        folder = folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="steps-")))
        folder.mkdir(parents=True, exist_ok=True)
        # A Unix socket's path is at most 107 bytes: a short one under the system's temporary folder.
        socket_path = str(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="steps-"))) / "server.sock")
        env = {**os.environ, **LOAD_TIME_ENV, "PYTHONPATH": with_project(os.environ.get("PYTHONPATH", ""))}
        output = stack.enter_context((log or folder / "step-server.log").open("ab"))
        process = subprocess.Popen([sys.executable, "-m", "pipelines.step_server", socket_path], cwd=ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        client = folder / "python"
        client.write_text(_CLIENT.format(python=sys.executable, root=str(ROOT), socket=socket_path))
        client.chmod(0o755)
        deadline = time.monotonic() + 30
        while not Path(socket_path).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the step server did not start (exit {process.poll()}); its log: {output.name}")
            time.sleep(0.02)
        previous = os.environ.get(CLIENT_ENV)
        os.environ[CLIENT_ENV] = str(client)
        try:
            yield socket_path
        finally:
            if previous is None:
                os.environ.pop(CLIENT_ENV, None)
            else:
                os.environ[CLIENT_ENV] = previous
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


@contextlib.contextmanager
def interpreter() -> Iterator[bool]:
    """While a :func:`step_server` runs, kfp.local starts steps through its client: kfp reads ``sys.executable`` for
    each step (``use_venv=False``), so it is the client's path for the duration. Yields whether a server runs."""
    client = os.environ.get(CLIENT_ENV)
    if not client:
        yield False
        return
    real, sys.executable = sys.executable, client
    try:
        yield True
    finally:
        sys.executable = real


if __name__ == "__main__":
    os.environ.update(LOAD_TIME_ENV)
    serve(sys.argv[1])
