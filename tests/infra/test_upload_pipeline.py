"""The in-cluster pipeline upload script against a fake KFP v2beta1 API on localhost: idempotent, versions by hash."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra.jobs import upload_pipeline

COMPILED = Path(__file__).resolve().parents[2] / "pipelines" / "compiled" / "fraud-detection-training.yaml"


class FakeKfp:
    """Just enough of KFP's v2beta1 REST API: pipelines, versions, recurring runs."""

    def __init__(self) -> None:
        self.pipelines: list[dict] = []
        self.versions: list[dict] = []
        self.recurring: list[dict] = []
        self.uploads: list[bytes] = []

    @staticmethod
    def _display_name(query: dict) -> str | None:
        if "filter" not in query or not query["filter"][0]:
            return None
        return json.loads(query["filter"][0])["predicates"][0]["string_value"]

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        parsed = urllib.parse.urlparse(path)
        query = urllib.parse.parse_qs(parsed.query)
        route = parsed.path.removeprefix("/apis/v2beta1")
        name = self._display_name(query)
        if method == "GET" and route == "/pipelines":
            return 200, {"pipelines": [p for p in self.pipelines if name is None or p["display_name"] == name]}
        if method == "POST" and route == "/pipelines/upload":
            assert b"pipelineInfo" in body, "the upload must carry the compiled spec"
            self.uploads.append(body)
            pipeline = {"pipeline_id": f"p{len(self.pipelines)}", "display_name": query["name"][0]}
            self.pipelines.append(pipeline)
            return 200, pipeline
        if method == "GET" and route.startswith("/pipelines/") and route.endswith("/versions"):
            pipeline_id = route.split("/")[2]
            found = [v for v in self.versions if v["pipeline_id"] == pipeline_id and (name is None or v["display_name"] == name)]
            return 200, {"pipeline_versions": found}
        if method == "POST" and route == "/pipelines/upload_version":
            self.uploads.append(body)
            version = {"pipeline_version_id": f"v{len(self.versions)}", "pipeline_id": query["pipelineid"][0],
                       "display_name": query["name"][0]}
            self.versions.append(version)
            return 200, version
        if method == "GET" and route == "/recurringruns":
            return 200, {"recurringRuns": [r for r in self.recurring if name is None or r["display_name"] == name]}
        if method == "POST" and route == "/recurringruns":
            run = {**json.loads(body), "recurring_run_id": f"r{len(self.recurring)}"}
            self.recurring.append(run)
            return 200, run
        if method == "POST" and route.endswith(":disable"):
            run_id = route.split("/")[2].split(":")[0]
            next(r for r in self.recurring if r["recurring_run_id"] == run_id)["mode"] = "DISABLE"
            return 200, {}
        return 404, {"error": f"no route {method} {route}"}


@pytest.fixture
def kfp() -> Iterator[tuple[str, FakeKfp]]:
    state = FakeKfp()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, payload = state.handle(method, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's names
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()


def ensure(api: str, version: str, schedule: str = "0 3 * * *") -> dict:
    return upload_pipeline.ensure(api, "fraud-detection-training", version, str(COMPILED), schedule, {"auc_floor": 0.9})


def test_first_upload_creates_pipeline_version_and_schedule(kfp: tuple[str, FakeKfp]) -> None:
    """On an empty KFP: the pipeline, its hash-named version and one recurring run (KFP's 6-field cron)."""
    api, state = kfp
    assert ensure(api, "fraud-detection-training-aaaaaaaaaaaa") == {"pipeline": "created", "version": "created", "recurring_run": "created"}
    (run,) = state.recurring
    assert run["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert run["runtime_config"]["parameters"] == {"auc_floor": 0.9}
    assert run["pipeline_version_reference"] == {"pipeline_id": "p0", "pipeline_version_id": "v0"}


def test_same_version_again_changes_nothing(kfp: tuple[str, FakeKfp]) -> None:
    """Re-running with the same version name uploads nothing and schedules nothing new."""
    api, state = kfp
    ensure(api, "fraud-detection-training-aaaaaaaaaaaa")
    uploads, runs = len(state.uploads), len(state.recurring)
    assert ensure(api, "fraud-detection-training-aaaaaaaaaaaa") == {"pipeline": "kept", "version": "kept", "recurring_run": "kept"}
    assert (len(state.uploads), len(state.recurring)) == (uploads, runs)


def test_new_version_takes_over_the_schedule(kfp: tuple[str, FakeKfp]) -> None:
    """A new spec hash adds a version and a recurring run, and disables the old run."""
    api, state = kfp
    ensure(api, "fraud-detection-training-aaaaaaaaaaaa")
    assert ensure(api, "fraud-detection-training-bbbbbbbbbbbb") == {"pipeline": "kept", "version": "created", "recurring_run": "created"}
    assert [v["display_name"] for v in state.versions] == [
        "fraud-detection-training-aaaaaaaaaaaa", "fraud-detection-training-bbbbbbbbbbbb"
    ]
    assert [r.get("mode") for r in state.recurring] == ["DISABLE", "ENABLE"]


def test_no_schedule_means_no_recurring_run(kfp: tuple[str, FakeKfp]) -> None:
    """An empty schedule uploads the version only."""
    api, state = kfp
    assert ensure(api, "fraud-detection-training-cccccccccccc", schedule="")["recurring_run"] == "none"
    assert state.recurring == []
