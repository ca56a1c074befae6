"""The serving and drift dashboards' panels drawn as pictures, from the demo's real Prometheus.

The queries are the dashboards' own: the Grafana JSON that ``python -m infra.dashboards`` prints
(the same code the program provisions Grafana's ConfigMaps with), with Grafana's rate window
replaced by a fixed one. Each panel becomes one PNG with one line per returned series, labelled
with the panel's legend format, as Grafana would draw it.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from demo.prometheus import Prometheus
from infra.dashboards.promql import concrete

ROOT = Path(__file__).resolve().parent.parent
# Grafana's $__rate_interval is at least four scrape intervals: the demo scrapes every second.
RATE_INTERVAL = "4s"
DRAWN = ("mlplatform-serving.json", "mlplatform-drift.json")


def dashboards_json(namespace: str, inference_service: str) -> dict[str, Any]:
    """The dashboards' Grafana JSON, from the program's own code (infra/dashboards/, infra environment)."""
    done = subprocess.run([str(ROOT / ".venv-infra" / "bin" / "python"), "-m", "infra.dashboards", "--namespace", namespace,
                           "--inference-service", inference_service], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"python -m infra.dashboards failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


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
            figure, axes = plt.subplots(figsize=(6.4, 2.6), dpi=80)
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
                axes.legend(fontsize=7, loc="upper left")
            else:
                axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
            figure.tight_layout()
            path = out_dir / f"{board['uid']}-{index}.png"
            figure.savefig(path)
            plt.close(figure)
            drawn.append((f"{board['title']}: {panel['title']}", path))
    return drawn
