"""The PromQL spellings the dashboards share; no dependencies, so the demo's pictures and the tests read them too."""

from __future__ import annotations

# Grafana's rate window (at least four scrape intervals); the pictures and the tests put a fixed window in its place.
RATE_INTERVAL = "$__rate_interval"
# Target labels the serving chart's PodMonitor adds to every series of a predictor pod
# (charts/model-serving/templates/podmonitor.yaml relabels them from KServe's pod labels).
INFERENCE_SERVICE_LABEL = "inference_service"
TRACK_LABEL = "track"
TRACKS = ("stable", "canary")


def concrete(expr: str, rate_interval: str) -> str:
    """A panel's query with Grafana's variables replaced, as Prometheus itself takes it."""
    return expr.replace(RATE_INTERVAL, rate_interval)


def queries(board: dict) -> list[tuple[str, str, str]]:
    """Every (panel title, expr, legend) of a dashboard's JSON, in order."""
    return [(p["title"], t["expr"], t.get("legendFormat", "")) for p in board.get("panels", []) for t in p.get("targets", [])]
