"""The KServe transformer in front of the fraud model: a V2 request carries ``customer_id`` and the transaction's
own fields; the transformer asks the Feast feature server for the request-time features (the on-demand view, computed
by the server from the customer's online aggregates and the transaction), assembles the model's input in the data
contract's order and forwards a V2 request to the predictor.

    python -m pipelines.features.transformer --model_name fraud --predictor_host fraud-predictor.models \\
        --feature_server_url http://feast-feature-server.feature-store:80

Standard library only (the image is python:slim plus this package's stdlib modules). Answers: 200 with the
predictor's response (its ``parameters`` gain the features and their age); 400 for a malformed request; 404 naming
customers the online store does not know (no history yet; the caller decides: there is no silent default); 503 when
the feature server or the predictor cannot be reached; the predictor's own 4xx passed through. Never a 500.
KServe appends ``--model_name``, ``--predictor_host`` and ``--http_port`` to the container's arguments.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from pipelines.features import repo
from pipelines.fraud.contract import FEATURES

FIELDS = (repo.JOIN_KEY, *repo.REQUEST_FIELDS, *repo.FLAGS)
FEATURE_SERVER_ENV = "FEATURE_SERVER_URL"
TIMEOUT_SECONDS = 2.0


class Refused(Exception):
    """A request answered with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def transactions(body: bytes) -> dict[str, list]:
    """The V2 request's columns by name, checked; a malformed request raises Refused(400)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the body is not JSON; send a V2 inference request") from None
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise Refused(400, f"send a V2 request with inputs named {', '.join(FIELDS)}")
    columns = {i.get("name"): i.get("data") for i in inputs}
    missing = [name for name in FIELDS if name not in columns]
    if missing:
        raise Refused(400, f"inputs {', '.join(missing)} are missing; send {', '.join(FIELDS)} (one value per transaction)")
    rows = {len(v) if isinstance(v, list) else -1 for v in (columns[name] for name in FIELDS)}
    if len(rows) != 1 or rows == {-1} or rows == {0}:
        raise Refused(400, f"inputs {', '.join(FIELDS)} must be non-empty lists of the same length")
    for name in FIELDS:
        for value in columns[name]:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise Refused(400, f"input {name!r} holds {value!r}; send finite numbers")
            if name == repo.JOIN_KEY and value != int(value):
                raise Refused(400, f"customer_id {value!r} is not an integer")
            if name in repo.FLAGS and value not in (0, 1):
                raise Refused(400, f"input {name!r} holds {value!r}; card flags are 0 or 1")
    return {name: [int(v) if name == repo.JOIN_KEY else float(v) for v in columns[name]] for name in FIELDS}


def vectors(columns: dict[str, list], online: dict, now: float) -> tuple[list[list[float]], list[float]]:
    """The model's input rows (contract order) and each row's feature age in seconds, from the server's answer;
    customers the store does not know raise Refused(404)."""
    try:
        names = online["metadata"]["feature_names"]
        results = {name: result for name, result in zip(names, online["results"], strict=True)}
        derived = {name: results[name]["values"] for name in repo.DERIVED}
        stamps = results[repo.FRESHNESS_REF.split(":")[1]]["values"]
    except (KeyError, TypeError, ValueError):
        raise Refused(502, "the feature server's answer lacks the requested features") from None
    unknown = sorted({c for i, c in enumerate(columns[repo.JOIN_KEY]) if any(derived[n][i] is None for n in repo.DERIVED)})
    if unknown:
        raise Refused(404, f"customer_id {', '.join(map(str, unknown))} has no history in the online store "
                           "(no earlier transaction materialized); score it without the feature store")
    rows = [[float(derived[n][i]) if n in derived else float(columns[n][i]) for n in FEATURES]
            for i in range(len(columns[repo.JOIN_KEY]))]
    ages = [round(now - _seconds(stamp), 3) if stamp is not None else None for stamp in stamps]
    return rows, ages


def _seconds(stamp) -> float:
    return float(stamp) if isinstance(stamp, (int, float)) else datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


class Upstream:
    """Keep-alive HTTP connections to one upstream, one per thread; unreachable raises Refused(503)."""

    def __init__(self, url: str, what: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        self.host, self.port, self.what = parts.hostname or "", parts.port or 80, what
        self.local = threading.local()

    def post(self, path: str, document: dict) -> tuple[int, dict | str]:
        body = json.dumps(document).encode()
        for attempt in (0, 1):
            connection = getattr(self.local, "connection", None)
            if connection is None:
                connection = self.local.connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_SECONDS)
            try:
                connection.request("POST", path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                text = response.read().decode("utf-8", "replace")
                break
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                self.local.connection = None
                if attempt:
                    raise Refused(503, f"{self.what} at {self.host}:{self.port} is unreachable ({type(error).__name__}); retry later") from None
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


class Transformer:
    """The request path: features from the feature server, then the predictor."""

    def __init__(self, model_name: str, predictor_host: str, feature_server_url: str) -> None:
        self.model_name = model_name
        self.features = Upstream(feature_server_url, "the feature server")
        self.predictor = Upstream(predictor_host, "the predictor")

    def infer(self, body: bytes) -> tuple[int, dict]:
        columns = transactions(body)
        query = {"features": [*repo.DERIVED_REFS, repo.FRESHNESS_REF],
                 "entities": {name: columns[name] for name in (repo.JOIN_KEY, *repo.REQUEST_FIELDS)}}
        status, online = self.features.post(repo.SERVER_PATH, query)
        if status != 200 or not isinstance(online, dict):
            raise Refused(503, f"the feature server answered {status}; the online store may be unreachable")
        rows, ages = vectors(columns, online, time.time())
        request = {"inputs": [{"name": "input-0", "shape": [len(rows), len(FEATURES)], "datatype": "FP64",
                               "data": [value for row in rows for value in row]}]}
        status, answer = self.predictor.post(f"/v2/models/{self.model_name}/infer", request)
        if status >= 500:
            raise Refused(503, f"the predictor answered {status}; retry later")
        if not isinstance(answer, dict):
            raise Refused(status if 400 <= status < 500 else 502, f"the predictor answered {status}: {str(answer)[:200]}")
        if status == 200:
            answer.setdefault("parameters", {}).update({"features": FEATURES, "feature_vectors": rows,
                                                        "feature_age_seconds": ages})
        return status, answer


def handler(transformer: Transformer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the client's delayed
        # ACK (40 ms per keep-alive request on Linux).
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # access logs off: the predictor's metrics count requests
            pass

        def _send(self, status: int, document: dict) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            ready = self.path in ("/v2/health/live", "/v2/health/ready", f"/v2/models/{transformer.model_name}/ready")
            self._send(200 if ready else 404, {"ready": True} if ready else {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != f"/v2/models/{transformer.model_name}/infer":
                return self._send(404, {"error": f"POST /v2/models/{transformer.model_name}/infer, not {self.path}"})
            try:
                self._send(*transformer.infer(body))
            except Refused as refused:
                self._send(refused.status, {"error": refused.message})
            except Exception as error:  # noqa: BLE001 (a bug must still answer, and say so, never a bare 500)
                self._send(503, {"error": f"the transformer failed ({type(error).__name__}: {error}); retry later"})

    return Handler


def serve(transformer: Transformer, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """A started server (in a daemon thread) on ``port``; 0 picks a free port (``server.server_port``)."""
    server = ThreadingHTTPServer((host, port), handler(transformer))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="KServe transformer: customer_id + transaction -> features -> model.")
    parser.add_argument("--model_name", required=True, help="the model's V2 name (KServe passes the InferenceService's)")
    parser.add_argument("--predictor_host", required=True, help="host[:port] of the predictor (KServe passes it)")
    parser.add_argument("--http_port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--feature_server_url", default=os.environ.get(FEATURE_SERVER_ENV, ""),
                        help=f"the Feast feature server, http://host:port (default ${FEATURE_SERVER_ENV})")
    args, _ = parser.parse_known_args(argv)
    if not args.feature_server_url:
        parser.error(f"set --feature_server_url or {FEATURE_SERVER_ENV} (the feature server's http://host:port)")
    server = serve(Transformer(args.model_name, args.predictor_host, args.feature_server_url), args.http_port)
    print(f"transformer for {args.model_name} on :{server.server_port} -> {args.feature_server_url}", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
