"""The `make demo` path end to end (smaller data), and its cleanup on success and on Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo.run import STEPS
from pipelines import step_server
from pipelines.fraud.contract import FEATURES
from pipelines.mlflow_users import PIPELINE_USERNAME
from tests.ml.processes import leftover_processes

ROOT = Path(__file__).resolve().parents[2]
# The worker that runs the demo runs these right after it (pytest-xdist --dist loadgroup, conftest.py).
pytestmark = pytest.mark.xdist_group("demo")


def test_demo_succeeds_with_progress_lines(demo_run: tuple) -> None:
    """The demo exits 0 and shows numbered steps with timings."""
    result, workdir = demo_run
    assert result.returncode == 0, result.stderr[-2000:]
    for index in range(1, STEPS + 1):
        assert f"[{index}/{STEPS}]" in result.stdout
    assert "done in" in result.stdout and (workdir / "report.md").exists()
    # The steps ran warm: the step server started and loaded the steps' libraries (tests/ml/test_step_server.py).
    assert step_server.LOADED in (workdir / "logs" / "step-server.log").read_text()
    import re

    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (workdir / "report.md").read_text())
    # The champion's two curves, then one picture per panel of the serving and drift dashboards.
    panels = json.loads((workdir / "summary.json").read_text())["panels"]
    assert len(panels) >= 7 and images == ["plots/roc_curve.png", "plots/pr_curve.png", *(p["path"] for p in panels)]
    assert all((workdir / image).stat().st_size > 1000 for image in images)


def test_demo_gate_champion_and_challenger(demo_run: tuple) -> None:
    """A champion exists; the weaker second run is registered but not champion; the pipelines did it as the pipeline user."""
    result, workdir = demo_run
    assert f"the pipelines sign in as {PIPELINE_USERNAME!r}" in result.stdout
    summary = json.loads((workdir / "summary.json").read_text())
    versions = {v["version"]: v for v in summary["registry"]["versions"]}
    assert versions["1"]["aliases"] == ["champion"]
    assert "champion" not in versions["2"]["aliases"] and versions["2"]["gate"].startswith("rejected:")
    assert summary["runs"]["first"]["promoted"] is True and summary["runs"]["second"]["promoted"] is False


def test_demo_serves_by_customer_id_through_the_feature_store(demo_run: tuple) -> None:
    """Requests by customer id get the store's features and the model's answer; an unknown customer a 404; the report
    shows the features' freshness."""
    result, workdir = demo_run
    customers = json.loads((workdir / "summary.json").read_text())["customers"]
    assert not customers.get("skipped"), customers
    assert len(customers["rows"]) >= 2 and customers["customers"] > 0
    for row in customers["rows"]:
        assert set(row["features"]) == set(FEATURES) and 0.0 <= row["probability"] <= 1.0 and row["decision"] in (0, 1)
        assert row["feature_age_seconds"] >= 0
    # The request's own fields reach the model through the on-demand view: ten times the median is a ratio of ten.
    unusual = next(row for row in customers["rows"] if row["kind"] == "unusual")
    assert unusual["features"]["ratio_to_median_purchase_price"] > 5
    assert customers["unknown_status"] == 404 and "no history" in customers["unknown_body"]
    assert 400 <= customers["malformed_status"] < 500
    assert "fraud probability" in result.stdout and "unknown customer -> HTTP 404" in result.stdout
    report = (workdir / "report.md").read_text()
    assert "## Serving by customer id" in report and f"materialized at {customers['materialized_at']}" in report


def test_demo_serving_answers_v2(demo_run: tuple) -> None:
    """The server answered V2 ready/infer with the right shape and a 4xx for a malformed request, and stayed up."""
    _, workdir = demo_run
    serving = json.loads((workdir / "summary.json").read_text())["serving"]
    assert serving["batch_output_shape"] == [100, 1]  # fraud_probability, one per row
    assert all(0.0 <= p["fraud_probability"] <= 1.0 for p in serving["predictions"])
    assert 400 <= serving["malformed_status"] < 500 and "shape" in serving["malformed_body"]
    assert serving["ready_after_malformed"] is True
    assert set(serving["refused"]) == {"shape/data mismatch", "wrong feature count", "wrong datatype", "empty batch", "unknown model"}
    for name, refusal in serving["refused"].items():
        assert 400 <= refusal["status"] < 500, (name, refusal)
    assert f"the model takes {len(FEATURES)}" in serving["refused"]["wrong feature count"]["body"]
    assert "empty batch" in serving["refused"]["empty batch"]["body"]
    assert serving["single_row_ms"]["p50"] > 0


def test_demo_drift_step_names_the_shifted_features(demo_run: tuple) -> None:
    """After serving, the demo logs a shifted batch and the drift pipeline names the shifted features."""
    result, workdir = demo_run
    drift = json.loads((workdir / "summary.json").read_text())["drift"]
    assert drift["status"] == "ok"
    assert {"distance_from_home", "online_order"} <= set(drift["drifted"])
    assert drift["drift_score"] == len(drift["drifted"]) / len(FEATURES)
    assert "drifted features: " in result.stdout


def test_demo_drift_retrains_and_the_gate_decides(demo_run: tuple) -> None:
    """The shifted traffic's drift starts a training run (a third version, its trigger in its tags) whose promotion the gate decides."""
    result, workdir = demo_run
    summary = json.loads((workdir / "summary.json").read_text())
    drift = summary["drift"]
    assert drift["trigger"].startswith("drift ") and drift["retrained"]["version"] == "3"
    retrained = {v["version"]: v for v in summary["registry"]["versions"]}["3"]
    assert retrained["trigger"] == drift["trigger"] and retrained["gate"] == drift["retrained"]["gate"] != ""
    assert ("champion" in retrained["aliases"]) == drift["retrained"]["promoted"]
    assert f"retraining triggered by {drift['trigger']}" in result.stdout
    assert f"retraining triggered by {drift['trigger']}" in (workdir / "report.md").read_text()


def test_demo_platform_step(demo_run: tuple) -> None:
    """The chart rendered for staging with the champion's S3 path, and the staging preview ran."""
    _, workdir = demo_run
    platform = json.loads((workdir / "summary.json").read_text())["platform"]
    assert platform["skipped"] is False
    assert "InferenceService" in platform["chart_kinds"]
    assert platform["storage_uri"].startswith("s3://mlp-staging-artifacts-") and "/mlflow/" in platform["storage_uri"]
    assert platform["total"] > 50
    assert platform["policy_passed"] is True and "0 mandatory violations" in platform["policy"]


def test_demo_leaves_no_process_behind(demo_run: tuple) -> None:
    """After the demo, no MLflow or model server process is left running."""
    _, workdir = demo_run
    assert leftover_processes(workdir) == []


def test_demo_starts_clean_over_a_previous_run(demo_run: tuple) -> None:
    """Leftovers of a previous run (even a corrupt MLflow store) do not break the demo; it starts clean."""
    result, workdir = demo_run
    assert result.returncode == 0
    assert not (workdir / "stale-marker").exists()
    summary = json.loads((workdir / "summary.json").read_text())
    assert [v["version"] for v in summary["registry"]["versions"]] == ["1", "2", "3"]  # the third: the retraining drift started


def test_demo_report_shows_threshold_metrics_for_every_version(demo_run: tuple) -> None:
    """The report's registry table gives each version (the rejected one too) its threshold, precision, recall and F1,
    and labels the model-only latency apart from the over-HTTP one."""
    _, workdir = demo_run
    summary = json.loads((workdir / "summary.json").read_text())
    report = (workdir / "report.md").read_text()
    assert "| threshold | precision | recall | F1 |" in report and "model-only p95" in report and "over HTTP" in report
    for version in summary["registry"]["versions"]:
        assert 0.0 < version["threshold"] < 1.0 and version["test_f1"] is not None, version
        row = next(line for line in report.splitlines() if line.startswith(f"| {version['version']} |"))
        assert f"| {version['threshold']:.3f} | {version['test_precision']:.3f} | {version['test_recall']:.3f} |" in row, row
        assert version["gate"] in row


def test_demo_reports_reopen_command_serves_its_mlflow_store(demo_run: tuple, tmp_path: Path) -> None:
    """The report's command to reopen the MLflow UI serves the demo's registry (run here on a copy, on a free port)."""
    import shlex
    import shutil
    import subprocess
    import sys

    from demo.report import reopen_mlflow
    from pipelines.mlflow_server import free_port, stop, wait_until_healthy

    _, workdir = demo_run
    assert f"`{reopen_mlflow(workdir / 'mlflow')}`" in (workdir / "report.md").read_text()
    store = tmp_path / "mlflow"
    shutil.copytree(workdir / "mlflow", store)
    command = shlex.split(reopen_mlflow(store))
    assert command[0] == ".venv-ml/bin/mlflow" and command[-2:] == ["--port", "5000"]
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "mlflow", *command[1:-1], str(port)], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        assert client.get_model_version_by_alias("fraud-detector", "champion").version == "1"
    finally:
        stop(process)
