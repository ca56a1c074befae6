"""The chart's feature-store transformer (KServe spec.transformer): off by default, restricted like the predictor,
its flows (callers -> transformer -> feature server and predictor), its facts from their owners, and the rendered
command really starting the transformer's archive on a bare Python."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from infra import versions
from infra.pod_security import restricted_violations
from pipelines.features import bundle, repo
from pipelines.mlflow_server import free_port
from tests.charts.conftest import CHART, by_kind, render

SCENARIO = "transformer"


def _transformer(objects: list[dict]) -> dict:
    (isvc,) = by_kind(objects, "InferenceService")
    return isvc["spec"]["transformer"]


def _policies(objects: list[dict]) -> dict[str, dict]:
    return {p["metadata"]["name"].rsplit("-", 1)[-1]: p["spec"] for p in by_kind(objects, "NetworkPolicy")}


def test_transformer_is_off_by_default(rendered: dict[str, list[dict]]) -> None:
    """Without transformer.enabled no scenario but the transformer's renders a transformer or its NetworkPolicy."""
    for scenario, objects in rendered.items():
        if scenario == SCENARIO:
            continue
        (isvc,) = by_kind(objects, "InferenceService")
        assert "transformer" not in isvc["spec"], scenario
        assert "transformer" not in _policies(objects), scenario


def test_transformer_pod_is_restricted_like_the_predictor(rendered: dict[str, list[dict]]) -> None:
    """The transformer pod meets the restricted profile with the predictor's pod and container security, limits set."""
    spec = _transformer(rendered[SCENARIO])
    (isvc,) = by_kind(rendered[SCENARIO], "InferenceService")
    assert restricted_violations(spec) == []
    assert spec["securityContext"] == isvc["spec"]["predictor"]["securityContext"]
    (container,) = spec["containers"]
    assert container["securityContext"] == isvc["spec"]["predictor"]["model"]["securityContext"]
    assert {"cpu", "memory"} <= set(container["resources"]["limits"]) and container["resources"]["requests"]
    assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"] not in ("", "default")


def test_transformer_flows(rendered: dict[str, list[dict]]) -> None:
    """Callers reach the transformer; it reaches DNS, the feature server's pods on their port and the predictor only."""
    policies = _policies(rendered[SCENARIO])
    transformer, predictor = policies["transformer"], policies["predictor"]
    labels = {"app.kubernetes.io/name": "model-serving", "app.kubernetes.io/instance": "fraud"}
    assert transformer["podSelector"]["matchLabels"] == labels | {"app.kubernetes.io/component": "transformer"}
    (callers,) = transformer["ingress"]
    assert callers["from"] == predictor["ingress"][0]["from"][:-1], "the transformer admits exactly the model's callers"
    assert callers["ports"] == [{"protocol": "TCP", "port": 8080}]
    dns, features, model = transformer["egress"]
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert features == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "feast"}},
                                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "feast-feature-server"}}}],
                        "ports": [{"protocol": "TCP", "port": repo.SERVER_PORT}]}
    assert model["to"] == [{"podSelector": {"matchLabels": labels | {"app.kubernetes.io/component": "predictor"}}}]
    assert predictor["ingress"][0]["from"][-1] == {"podSelector": {"matchLabels": transformer["podSelector"]["matchLabels"]}}


def test_transformer_defaults_come_from_their_owners() -> None:
    """The image is the platform's pinned Python, the code key the bundle's, the feature server port repo's."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())["transformer"]
    assert values["image"] == versions.IMAGES["python"]
    assert values["code"]["key"] == bundle.ARCHIVE_KEY
    assert values["featureServer"]["port"] == repo.SERVER_PORT
    assert values["enabled"] is False


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_rendered_command_starts_the_archive_on_bare_python(tmp_path: Path) -> None:
    """The container's command and args, plus the arguments KServe v0.20 appends, start the bundled transformer with
    the standard library only (site-packages off): it answers ready, and a malformed request with 400."""
    objects = render(CHART / "ci" / f"{SCENARIO}-values.yaml")
    (container,) = _transformer(objects)["containers"]
    (tmp_path / bundle.ARCHIVE_KEY).write_bytes(bundle.archive())
    port = free_port()
    command = [arg.replace(bundle.MOUNT_PATH, str(tmp_path)) for arg in container["command"]]
    assert command[0] == "python"
    kserve = ["--model_name", "fraud-model-serving", "--predictor_host", "fraud-model-serving-predictor.models",
              "--http_port", str(port), "--workers", "1"]
    process = subprocess.Popen([sys.executable, "-I", "-S", *command[1:], *container["args"], *kserve],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}/v2"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert _get(f"{base}/health/ready") == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
                time.sleep(0.1)
        request = urllib.request.Request(f"{base}/models/fraud-model-serving/infer", data=json.dumps({"inputs": 1}).encode())
        try:
            urllib.request.urlopen(request, timeout=5)
            raise AssertionError("a malformed request was accepted")
        except urllib.error.HTTPError as error:
            assert error.code == 400, error.read()
    finally:
        process.terminate()
        process.wait(timeout=10)
