"""Real stores for the feature store's tests (features environment): PostgreSQL 15 as the local online store, the
feature repository applied from generated raw transactions, `feast serve` and the transformer in front of a stub
predictor that echoes what it got."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
import requests

from pipelines.features import repo, transformer

BINDIR = Path("/usr/lib/postgresql/15/bin")
REQUIRE = "MLPLATFORM_REQUIRE_UPSTREAM"
AS_ROOT = os.geteuid() == 0
PASSWORD = "feast-test-password"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if AS_ROOT else args


@pytest.fixture(scope="session")
def postgres() -> Iterator[dict]:
    """A real PostgreSQL 15 with the feature store's database, user and schema (repo's names)."""
    if not (BINDIR / "postgres").exists():
        if os.environ.get(REQUIRE):
            pytest.fail(f"PostgreSQL 15 is not at {BINDIR} (make backup-tools installs it)")
        pytest.skip(f"needs PostgreSQL 15 at {BINDIR} (make backup-tools installs it)")
    root = Path(tempfile.mkdtemp(prefix="feast-pg-"))
    shutil.chown(root, "postgres") if AS_ROOT else None
    data = root / "data"
    subprocess.run(_as_postgres([str(BINDIR / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]),
                   check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(_as_postgres([str(BINDIR / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
                                            "-c", "listen_addresses=127.0.0.1"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([str(BINDIR / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode:
            assert time.monotonic() < deadline and server.poll() is None, "PostgreSQL did not start"
            time.sleep(0.2)
        sql = (f"CREATE USER {repo.POSTGRES_USER} PASSWORD '{PASSWORD}';"
               f"CREATE DATABASE {repo.POSTGRES_DATABASE} OWNER {repo.POSTGRES_USER};")
        for statement in sql.split(";")[:-1]:
            subprocess.run([str(BINDIR / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", statement],
                           check=True, capture_output=True)
        subprocess.run([str(BINDIR / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", repo.POSTGRES_USER,
                        repo.POSTGRES_DATABASE, "-c", f"CREATE SCHEMA {repo.POSTGRES_SCHEMA}"], check=True, capture_output=True)
        yield {"host": "127.0.0.1", "port": port}
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def raw():
    """Raw transactions with history (the generator's raw mode, fixed seed and anchor)."""
    from pipelines.fraud.data import generate_raw

    return generate_raw(1500, seed=5, customers=60)


@pytest.fixture(scope="session")
def applied(postgres: dict, raw, tmp_path_factory) -> Iterator[dict]:
    """The repository applied and materialized into the real Postgres online store, with its config file."""
    from pipelines.features import store

    os.environ[repo.POSTGRES_PASSWORD_ENV] = PASSWORD
    root = str(tmp_path_factory.mktemp("bucket"))
    config = repo.feature_store_yaml(root, repo.online_store("postgres", host=postgres["host"], port=postgres["port"],
                                                             sslmode="disable"))
    feature_store = store.open_store(config)
    store.apply(feature_store, root, raw)
    end = raw[repo.TIMESTAMP].max().to_pydatetime() + timedelta(seconds=1)
    store.materialize(feature_store, end)
    yield {"root": root, "config": config, "store": feature_store, "end": end}


@pytest.fixture(scope="session")
def feature_server(applied: dict) -> Iterator[str]:
    """`feast serve` (the chart's command, repo.server_command) on the applied repository."""
    port = free_port()
    folder = Path(applied["store"].repo_path)
    feast = Path(sys.executable).parent / "feast"
    process = subprocess.Popen([str(feast), *repo.server_command(port)[1:]], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=(folder / "server.log").open("w"), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (folder / "server.log").read_text()[-2000:]
        time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=30)


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        rows = request["inputs"][0]["shape"][0]
        body = json.dumps({"model_name": "fraud", "outputs": [{"name": "predict", "shape": [rows], "datatype": "INT64",
                                                               "data": [0] * rows}], "parameters": {"seen": request}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="session")
def predictor() -> Iterator[str]:
    """A stub V2 predictor that answers 200 and echoes the request it got (in parameters.seen)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def transformer_url(feature_server: str, predictor: str) -> Iterator[str]:
    """The transformer, as KServe starts it, between the caller, the feature server and the predictor."""
    server = transformer.serve(transformer.Transformer("fraud", predictor, feature_server), 0, "127.0.0.1")
    yield f"http://127.0.0.1:{server.server_port}/v2/models/fraud/infer"
    server.shutdown()
