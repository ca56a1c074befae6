"""Run what the program declares: MLflow started with the exact command, arguments and environment of
the program's MLflow container, called as the cluster calls it (the in-cluster Host header)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests

from tests.ml.declared import declared, run_declared, run_users_job


def _search(url: str, host: str, auth: tuple[str, str] | None = None) -> requests.Response:
    return requests.post(f"{url}/api/2.0/mlflow/experiments/search", json={"max_results": 5}, headers={"Host": host}, auth=auth, timeout=30)


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "auth-on"])
def test_declared_mlflow_answers_the_in_cluster_host(auth: bool, tmp_path: Path) -> None:
    """The program's MLflow serves the experiments API to mlflow.mlflow.svc.cluster.local:5000; with auth, only with credentials
    (the pipelines', once the program's users Job has run)."""
    spec = declared("staging", auth)
    with run_declared(spec, "mlflow", tmp_path) as url:
        if not auth:
            assert _search(url, spec["host"]).status_code == 200
            return
        run_users_job(spec, url, tmp_path)
        credentials = spec["secrets"]["kubeflow/mlflow-credentials"]
        assert _search(url, spec["host"]).status_code == 401
        response = _search(url, spec["host"], (credentials["username"], credentials["password"]))
        assert response.status_code == 200, response.text
        # A foreign Host is still refused (the DNS-rebinding guard is on, not disabled).
        assert _search(url, "evil.example.com", (credentials["username"], credentials["password"])).status_code == 403


def test_secret_values_are_not_base64_in_string_data() -> None:
    """The Secrets the test maps are stringData (plain), as the program declares them; base64 would mean data."""
    spec = declared("staging", True)
    config = spec["secrets"]["mlflow/mlflow-config"]
    assert "basic_auth.ini" in config and "flask-secret-key" in config
    with pytest.raises(ValueError):
        base64.b64decode(config["basic_auth.ini"], validate=True)
