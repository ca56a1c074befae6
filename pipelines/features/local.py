"""The feature store's servers on one machine (features environment), for the tests, the demo and the benchmark:
a throwaway PostgreSQL 15 (the local stack's online store, Debian's binaries) with repo's database, user and schema,
and `feast serve` (the chart's command, repo.server_command) on an applied repository, warmed once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from pipelines.features import repo

BINDIR = Path("/usr/lib/postgresql/15/bin")
AS_ROOT = os.geteuid() == 0


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if AS_ROOT else args


@contextmanager
def postgres(password: str) -> Iterator[dict]:
    """A PostgreSQL 15 on 127.0.0.1 with repo's database, user (``password``) and schema: ``{"host", "port"}``."""
    if not (BINDIR / "postgres").exists():
        raise FileNotFoundError(f"PostgreSQL 15 is not at {BINDIR} (make backup-tools installs it)")
    root = Path(tempfile.mkdtemp(prefix="feast-pg-"))
    shutil.chown(root, "postgres") if AS_ROOT else None
    data = root / "data"
    subprocess.run(_as_postgres([str(BINDIR / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]),
                   check=True, capture_output=True)
    # Here, not at the top: the features image carries this folder but not mlflow_server.py (and runs neither server).
    from pipelines.mlflow_server import free_port

    port = free_port()
    server = subprocess.Popen(_as_postgres([str(BINDIR / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
                                            "-c", "listen_addresses=127.0.0.1"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([str(BINDIR / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode:
            assert time.monotonic() < deadline and server.poll() is None, "PostgreSQL did not start"
            time.sleep(0.2)
        psql = [str(BINDIR / "psql"), "-h", "127.0.0.1", "-p", str(port)]
        for statement in (f"CREATE USER {repo.POSTGRES_USER} PASSWORD '{password}'",
                          f"CREATE DATABASE {repo.POSTGRES_DATABASE} OWNER {repo.POSTGRES_USER}"):
            subprocess.run([*psql, "-U", "postgres", "-c", statement], check=True, capture_output=True)
        subprocess.run([*psql, "-U", repo.POSTGRES_USER, repo.POSTGRES_DATABASE, "-c", f"CREATE SCHEMA {repo.POSTGRES_SCHEMA}"],
                       check=True, capture_output=True)
        yield {"host": "127.0.0.1", "port": port}
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def warm_query() -> dict:
    """One lookup of customer 1 (what the transformer asks, with a made-up transaction)."""
    return {"features": [*repo.DERIVED_REFS, repo.FRESHNESS_REF],
            "entities": {repo.JOIN_KEY: [1], **{name: [1.0] for name in repo.REQUEST_FIELDS}}}


@contextmanager
def feature_server(repo_path: str) -> Iterator[str]:
    """`feast serve` on the repository at ``repo_path`` (its feature_store.yaml), healthy and warmed: its URL."""
    from pipelines.mlflow_server import free_port  # as above

    port = free_port()
    folder = Path(repo_path)
    feast = Path(sys.executable).parent / "feast"
    process = subprocess.Popen([str(feast), *repo.server_command(port)[1:]], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=(folder / "server.log").open("w"), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (folder / "server.log").read_text()[-2000:]
            time.sleep(0.3)
        # The first lookup loads the registry and compiles the on-demand view (seconds on a busy machine): done here,
        # once, as a readiness probe would, so that the transformer's 2 s budget measures lookups, not a cold start.
        assert requests.post(f"{url}{repo.SERVER_PATH}", json=warm_query(), timeout=180).status_code == 200
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
