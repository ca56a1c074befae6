"""The serving and drift dashboards' panels drawn as pictures, from the demo's real Prometheus.

The queries are the dashboards' own: the Grafana JSON that ``python -m infra.dashboards`` prints
(the same code the program provisions Grafana's ConfigMaps with), with Grafana's rate window
replaced by a fixed one. Each panel becomes one PNG with one line per returned series, labelled
with the panel's legend format, as Grafana would draw it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo import BACKGROUND, INFRA_PYTHON
from demo import prometheus as monitoring
from demo.prometheus import Prometheus
from infra.dashboards.promql import concrete
from pipelines.drift.metrics import DRIFT_METRIC

ROOT = Path(__file__).resolve().parent.parent
# Grafana's $__rate_interval is at least four scrape intervals: the demo scrapes every second.
RATE_INTERVAL = "4s"
DRAWN = ("mlplatform-serving.json", "mlplatform-drift.json")


def predictor_pod_labels(inference_service: str) -> dict[str, str]:
    """The labels KServe v0.20 gives a stable predictor's pod (pkg/constants: InferenceServicePodLabelKey,
    KServiceComponentLabel, RawDeploymentAppLabel = "isvc." + the predictor's Service), which the chart's PodMonitor reads."""
    return {"serving.kserve.io/inferenceservice": inference_service, "component": "predictor", "app": f"isvc.{inference_service}-predictor"}


def dashboards_process(namespace: str, inference_service: str) -> subprocess.Popen[str]:
    """``python -m infra.dashboards`` (infra environment): the dashboards' Grafana JSON from the program's own code."""
    return subprocess.Popen([*BACKGROUND, str(INFRA_PYTHON), "-m", "infra.dashboards", "--namespace", namespace,
                             "--inference-service", inference_service], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def dashboards_json(process: subprocess.Popen[str]) -> dict[str, Any]:
    """What ``dashboards_process`` printed; raises with its last error line."""
    stdout, stderr = process.communicate(timeout=120)
    if process.returncode != 0:
        raise RuntimeError(f"python -m infra.dashboards failed: {stderr.strip().splitlines()[-1:]}")
    return json.loads(stdout)


def _legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template) or json.dumps(labels)


def draw(prometheus: Prometheus, boards: dict[str, Any], start: float, out_dir: Path) -> list[tuple[str, Path]]:
    """One PNG per panel of the serving and drift dashboards over [start, now]; returns (title, path) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    end = time.time()
    drawn = []
    for file_name in DRAWN:
        board = boards[file_name]
        for index, panel in enumerate(board["panels"]):
            figure, axes = plt.subplots(figsize=(8, 2.6), dpi=80)
            lines = 0
            for target in panel["targets"]:
                for series in prometheus.query_range(concrete(target["expr"], RATE_INTERVAL), start, end, 1.0):
                    points = [(float(t) - start, float(v)) for t, v in series["values"] if v not in ("NaN", "+Inf", "-Inf")]
                    if points:
                        axes.plot(*zip(*points, strict=True), label=_legend(target.get("legendFormat", ""), series["metric"]))
                        lines += 1
            axes.set_title(f"{board['title']}: {panel['title']}", fontsize=9)
            axes.set_xlabel("seconds into the demo's scrape", fontsize=8)
            axes.set_ylabel(panel["fieldConfig"]["defaults"].get("unit", ""), fontsize=8)
            axes.tick_params(labelsize=7)
            if lines:
                axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
            else:
                axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
            figure.tight_layout()
            path = out_dir / f"{board['uid']}-{index}.png"
            figure.savefig(path)
            plt.close(figure)
            drawn.append((f"{board['title']}: {panel['title']}", path))
    return drawn


@dataclass(frozen=True)
class Scrape:
    """The demo's Prometheus, the Pushgateway it scrapes, and when scraping began."""

    prometheus: monitoring.Prometheus
    pushgateway: str
    started: float
    # The dashboards' JSON, being printed in the background (infra environment).
    boards: subprocess.Popen[str]


def start_monitoring(stack: contextlib.ExitStack, metrics_address: str, workdir: Path, namespace: str, inference_service: str,
                     say: Callable[[str], None]) -> Scrape | None:
    """A Pushgateway, and a Prometheus scraping it and the model server to come at ``metrics_address`` as the platform's
    monitors do (None without Debian's binaries). Started early: Prometheus 2.42 applies its targets 5 s after it starts."""
    missing = monitoring.missing_binaries()
    if missing:
        say(f"no dashboards' pictures: {', '.join(missing)} not installed (Debian: apt-get install {' '.join(missing)})")
        return None
    pushgateway = stack.enter_context(monitoring.pushgateway(workdir / "logs" / "pushgateway.log"))
    monitor = monitoring.chart_podmonitor("demo", namespace, f"fullnameOverride={inference_service}")
    targets = [
        monitoring.predictor_target(metrics_address, monitor, predictor_pod_labels(inference_service),
                                    f"{inference_service}-predictor-7d9f8b6c5-demo1"),
        monitoring.Target("pushgateway", pushgateway.removeprefix("http://"), honor_labels=True),
    ]
    prometheus = stack.enter_context(monitoring.prometheus(workdir / "prometheus", targets, workdir / "logs" / "prometheus.log"))
    return Scrape(prometheus, pushgateway, time.time(), dashboards_process(namespace, inference_service))


def scraping(scrape: Scrape | None, say: Callable[[str], None]) -> Scrape | None:
    """Once the model server is up: wait until Prometheus has scraped it and the Pushgateway; scraping starts now."""
    if scrape is None:
        return None
    scrape.prometheus.wait_for_scrape(2)
    say(f"Prometheus at {scrape.prometheus.url} scrapes the model server (as the chart's PodMonitor) and the Pushgateway")
    return dataclasses.replace(scrape, started=time.time())


def draw_panels(scrape: Scrape | None, workdir: Path, namespace: str, inference_service: str,
                say: Callable[[str], None]) -> list[dict[str, str]]:
    """The serving and drift dashboards' panels as PNGs, from the demo's Prometheus (after it scraped the drift push)."""
    if scrape is None:
        say("skipped: no Prometheus (see above)")
        return []
    boards = dashboards_json(scrape.boards)
    deadline = time.monotonic() + 10
    while not scrape.prometheus.query(f'{DRIFT_METRIC}{{namespace="{namespace}", model="{inference_service}"}}'):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Prometheus did not scrape {DRIFT_METRIC} from the Pushgateway in 10 s")
        time.sleep(0.2)
    time.sleep(1.0)  # one more scrape: the last point of every panel
    drawn = draw(scrape.prometheus, boards, scrape.started, workdir / "plots")
    say(f"{len(drawn)} panels drawn from {scrape.prometheus.url}: {', '.join(title for title, _ in drawn[:3])}, ...")
    return [{"title": title, "path": str(path.relative_to(workdir))} for title, path in drawn]
