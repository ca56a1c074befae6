"""The demo's Markdown report: metrics, plots, registry state and where everything lives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow


def registry_state(client: mlflow.MlflowClient, model_name: str) -> dict[str, Any]:
    """Every version of the model with its aliases, gate decision and held-out metrics."""
    model = client.get_registered_model(model_name)
    aliases: dict[str, list[str]] = {}
    for alias, version in model.aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    versions = []
    for version in sorted(client.search_model_versions(f"name='{model_name}'"), key=lambda v: int(v.version)):
        metrics = client.get_run(version.run_id).data.metrics
        versions.append(
            {
                "version": version.version,
                "aliases": sorted(aliases.get(version.version, [])),
                "gate": version.tags.get("gate", ""),
                "test_roc_auc": metrics.get("test_roc_auc"),
                "test_pr_auc": metrics.get("test_pr_auc"),
                "p95_latency_ms": metrics.get("p95_latency_ms"),
                # The decision threshold training picked, and the held-out figures at it.
                "threshold": float(version.tags.get("threshold", "nan")),
                "test_precision": metrics.get("test_precision"),
                "test_recall": metrics.get("test_recall"),
                "test_f1": metrics.get("test_f1"),
                "run_id": version.run_id,
                "source": version.source,
                "data_sha256": version.tags.get("data_sha256", ""),
                "trigger": version.tags.get("trigger", ""),
            }
        )
    return {"model": model_name, "versions": versions}


def _drift_lines(drift: dict[str, Any] | None) -> list[str]:
    """The drift run's verdict and the retraining it started (if any)."""
    if not drift:
        return []
    lines = ["## Drift and retraining", "",
             f"- drift score {drift['drift_score']:.2f} ({drift['status']}); drifted features: {', '.join(drift['drifted']) or 'none'}"]
    retrained = drift.get("retrained")
    if retrained:
        outcome = "promoted to champion" if retrained["promoted"] else "registered as challenger, not promoted"
        lines.append(f"- retraining triggered by {drift['trigger']}: v{retrained['version']} {outcome}; gate: {retrained['gate']}")
    else:
        lines.append("- no retraining triggered")
    return [*lines, ""]


def _customer_lines(customers: dict[str, Any] | None) -> list[str]:
    """Requests by customer id through the transformer: the features the store gave, the decision, their freshness."""
    lines = ["## Serving by customer id (feature store + transformer)", ""]
    if not customers or customers.get("skipped"):
        return [*lines, f"Skipped: {(customers or {}).get('reason', 'not run')}", ""]
    lines += [
        f"Online store: {customers['customers']} customers, materialized at {customers['materialized_at']} (newest event "
        f"{customers['newest_event']}; {customers['freshness_seconds']:.0f} s before this report). One request of "
        f"{len(customers['rows'])} transactions through the transformer: {customers['request_ms']:.0f} ms over HTTP.",
        "",
        "| customer | transaction | amount | ratio to median | km from home | km from last | probability | decision | aggregates age (h) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in customers["rows"]:
        f = row["features"]
        lines.append(f"| {row['customer_id']} | {row['kind']} | {row['amount']:.2f} | {f['ratio_to_median_purchase_price']:.2f} "
                     f"| {f['distance_from_home']:.1f} | {f['distance_from_last_transaction']:.1f} | {row['probability']:.3f} "
                     f"| {row['decision']} | {row['feature_age_seconds'] / 3600:.1f} |")
    lines += ["", f"- unknown customer: HTTP {customers['unknown_status']} ({customers['unknown_body'][:120]}); "
                  f"malformed request: HTTP {customers['malformed_status']}", ""]
    return lines


def reopen_mlflow(store: Path) -> str:
    """The command that serves the demo's MLflow store again (the UI and the registry, without the demo's sign-in)."""
    return (f".venv-ml/bin/mlflow server --backend-store-uri sqlite:///{store / 'mlflow.db'} --artifacts-destination "
            f"{store / 'artifacts'} --serve-artifacts --port 5000")


def write(workdir: Path, summary: dict[str, Any], client: mlflow.MlflowClient) -> Path:
    """Write report.md (and copy the champion's curves next to it); returns its path."""
    registry = summary["registry"]
    champion = next(v for v in registry["versions"] if "champion" in v["aliases"])
    plots = workdir / "plots"
    plots.mkdir(exist_ok=True)
    for name in ("roc_curve.png", "pr_curve.png"):
        client.download_artifacts(champion["run_id"], f"evaluation/{name}", str(plots))
    serving = summary["serving"]
    lines = [
        "# ML platform demo report",
        "",
        f"Finished in {summary['seconds']:.0f} s. MLflow: {summary['tracking_uri']} (stopped now).",
        "",
        "## Registry",
        "",
        "Every version the runs registered, the rejected ones too, with held-out figures; precision, recall and F1 at "
        "the version's own decision threshold (what its served model decides at); the model-only p95 is the evaluate "
        "step's single-row `predict_proba` in CPU time (the gate's latency figure), not a request over HTTP.",
        "",
        "| version | aliases | trigger | threshold | precision | recall | F1 | ROC AUC | PR AUC | model-only p95 (ms) | gate |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in registry["versions"]:
        lines.append(
            f"| {v['version']} | {', '.join(v['aliases']) or '-'} | {v['trigger'] or '-'} | {v['threshold']:.3f} "
            f"| {v['test_precision']:.3f} | {v['test_recall']:.3f} | {v['test_f1']:.3f} | {v['test_roc_auc']:.4f} | {v['test_pr_auc']:.4f} "
            f"| {v['p95_latency_ms']:.2f} | {v['gate']} |"
        )
    single = serving["single_row_ms"]
    lines += [
        "",
        f"## Champion v{champion['version']}: held-out curves",
        "",
        "![ROC curve](plots/roc_curve.png) ![PR curve](plots/pr_curve.png)",
        "",
        "## Serving (V2 protocol, MLServer sklearn runtime)",
        "",
        f"- single-row infer over HTTP (client-measured V2 round trip, wall time): p50 {single['p50']:.1f} ms, "
        f"p95 {single['p95']:.1f} ms, p99 {single['p99']:.1f} ms",
        f"- {serving['batch_rows']}-row batch over HTTP: {serving['batch_ms']:.1f} ms, output shape {serving['batch_output_shape']}",
        f"- malformed request: HTTP {serving['malformed_status']}; server ready afterwards: {serving['ready_after_malformed']}",
        "",
        *_customer_lines(summary.get("customers")),
        *_drift_lines(summary.get("drift")),
        "## Dashboards: serving and drift panels",
        "",
    ]
    drawn = summary.get("panels") or []
    if drawn:
        lines += ["The platform's Grafana dashboards' own queries (infra/dashboards/), run on a real Prometheus that scraped",
                  "this demo's model server and Pushgateway every second: what Grafana shows for this run.", ""]
        lines += [f"![{item['title']}]({item['path']})" for item in drawn]
    else:
        lines.append("Not drawn: Debian's `prometheus` and `prometheus-pushgateway` are not installed (`make monitoring-tools`).")
    lines += [
        "",
        "## Platform",
        "",
    ]
    platform = summary.get("platform", {})
    if platform.get("skipped"):
        lines.append("Skipped (`--skip-platform` or no infra environment).")
    else:
        lines += [
            f"- serving chart for staging: {len(platform['chart_kinds'])} objects ({', '.join(sorted(set(platform['chart_kinds'])))})",
            f"- model.storageUri on staging: `{platform['storage_uri']}`",
            f"- staging stack: {platform['total']} resources would be created",
            f"- {platform['policy']}",
        ]
    lines += [
        "",
        "## Where everything lives",
        "",
        f"- data: `{workdir / 'store' / 'data' / 'fraud.csv'}`",
        f"- MLflow store: `{workdir / 'mlflow'}` (SQLite `mlflow.db`, artifacts under `artifacts/`); reopen its UI with "
        f"`{reopen_mlflow(workdir / 'mlflow')}` and open http://127.0.0.1:5000",
        f"- served model repository: `{workdir / 'serving'}`",
        f"- logs: `{workdir / 'logs'}`",
        f"- machine-readable summary: `{workdir / 'summary.json'}`",
        "",
    ]
    path = workdir / "report.md"
    path.write_text("\n".join(lines))
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return path
