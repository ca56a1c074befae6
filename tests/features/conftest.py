"""Real stores for the feature store's tests (features environment): PostgreSQL 15 as the local online store, the
feature repository applied from generated raw transactions, `feast serve` and the transformer in front of a stub
predictor that echoes what it got."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from pipelines.features import local, repo, transformer

REQUIRE = "MLPLATFORM_REQUIRE_UPSTREAM"
PASSWORD = "feast-test-password"



@pytest.fixture(scope="session")
def postgres() -> Iterator[dict]:
    """A real PostgreSQL 15 with the feature store's database, user and schema (repo's names)."""
    if not (local.BINDIR / "postgres").exists():
        if os.environ.get(REQUIRE):
            pytest.fail(f"PostgreSQL 15 is not at {local.BINDIR} (make backup-tools installs it)")
        pytest.skip(f"needs PostgreSQL 15 at {local.BINDIR} (make backup-tools installs it)")
    with local.postgres(PASSWORD) as server:
        yield server


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
    with local.feature_server(applied["store"].repo_path) as url:
        yield url


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
