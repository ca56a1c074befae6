"""A real MLflow tracking server and model registry on localhost, for local runs, the demo and tests.

SQLite backend, artifacts served by the server from a local directory
(``--serve-artifacts``), a free port, and a clean stop (the whole process
group) when the context exits, even on errors or Ctrl-C. With an admin password,
MLflow's basic-auth app with the platform's auth config (pipelines/mlflow_users.py),
as the cluster runs it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from pipelines.cluster import MLFLOW_CREDENTIALS_ENV, MLFLOW_SERVER_ENV

# Local servers take ports from here up to the kernel's ephemeral range (see free_port).
SERVER_PORTS_FROM = 20000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now, below the kernel's ephemeral range.

    Port 0 gets a port from the ephemeral range, where every outgoing connection takes its local port too: a server
    started seconds later (MLServer starting beside a pipeline run's MLflow calls) found its port taken ("address
    already in use"). Below that range only servers bind, each naming its port.
    """
    try:
        ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    for _ in range(200):
        port = random.randrange(SERVER_PORTS_FROM, max(ephemeral, SERVER_PORTS_FROM + 1000))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Poll ``url``/health until it answers 200, or fail saying why (the local server exited, or the time ran out).

    MLflow serves ``/health`` without authentication, so this works on a basic-auth server too.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode} before it was healthy")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.25)
    raise TimeoutError(f"mlflow server at {url} not healthy after {timeout:.0f} s")


def signs_in(tracking_uri: str, username: str, password: str) -> bool:
    """Whether MLflow accepts these credentials (its current-user endpoint answers 200)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request = urllib.request.Request(f"{tracking_uri}/api/2.0/mlflow/users/current", headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status == 200
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            return False
        raise


def wait_for_tracking_server(tracking_uri: str, timeout: float = 120.0) -> None:
    """In a step: wait until an HTTP tracking server answers, and accepts the step's credentials, before the first
    MLflow call.

    A run that starts while MLflow is still starting (a fresh cluster's first scheduled run, a
    rolling update, the demo starting both at once) then logs once it is up instead of failing; so does
    one that starts before the users Job (or the demo) has created the pipeline user it signs in as.
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return
    url = tracking_uri.rstrip("/")
    deadline = time.monotonic() + timeout
    wait_until_healthy(url, timeout=timeout)
    username, password = (os.environ.get(name, "") for name in MLFLOW_CREDENTIALS_ENV.values())
    if not username:
        return
    while not signs_in(url, username, password):
        if time.monotonic() > deadline:
            raise PermissionError(f"MLflow at {url} refuses user {username!r} after {timeout:.0f} s: it does not exist yet "
                                  "(the users Job creates it) or its password is not the one in the step's credentials")
        time.sleep(0.5)


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Terminate the server's process group, then kill it if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


@contextlib.contextmanager
def signed_in(username: str, password: str) -> Iterator[None]:
    """MLflow's client (and every process started meanwhile) sends these credentials; the previous ones after."""
    names = tuple(MLFLOW_CREDENTIALS_ENV.values())
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(dict(zip(names, (username, password), strict=True)))
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def auth_files(workdir: Path, admin_password: str) -> dict[str, str]:
    """Write the basic-auth config (users in ``workdir``/auth.db); the env and nothing else the server needs for it."""
    # Here, not at the top: the step image carries this module (the steps wait for MLflow with it), not mlflow_users.
    from pipelines.mlflow_users import auth_config

    config = workdir / "basic_auth.ini"
    config.touch(mode=0o600)
    config.write_text(auth_config(f"sqlite:///{(workdir / 'auth.db').resolve()}", admin_password))
    return {"MLFLOW_AUTH_CONFIG_PATH": str(config.resolve()), "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32)}


@contextlib.contextmanager
def mlflow_server(workdir: Path, port: int | None = None, log_file: Path | None = None, wait: bool = True,
                  admin_password: str | None = None) -> Iterator[str]:
    """Run ``mlflow server`` with its store under ``workdir``; yields its URL.

    With ``wait=False`` the URL comes at once, while the server is still starting: for callers
    whose first MLflow call waits for it (the evaluate step's :func:`wait_for_tracking_server`).
    With ``admin_password``, MLflow's basic-auth app, its admin ``mlflow_users.ADMIN_USERNAME``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_file or workdir / "mlflow-server.log", "ab")  # noqa: SIM115 - closed below
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{(workdir / 'mlflow.db').resolve()}",
        "--artifacts-destination", str((workdir / "artifacts").resolve()),
        "--serve-artifacts",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]
    env = {**os.environ, **MLFLOW_SERVER_ENV}
    if admin_password:
        command += ["--app-name", "basic-auth"]
        env.update(auth_files(workdir, admin_password))
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        if wait:
            wait_until_healthy(url, process)
        yield url
    finally:
        stop(process)
        log.close()
