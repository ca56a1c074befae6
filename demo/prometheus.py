"""A real Prometheus and Pushgateway on localhost (Debian's ``prometheus`` and ``prometheus-pushgateway``).

The demo scrapes its model server and Pushgateway with them, as the cluster's Prometheus scrapes
them through the serving chart's PodMonitor and the Pushgateway's: the model server's target carries
the pod's metadata labels and the chart's own relabelings (rendered with helm), the Pushgateway's
keeps the pushed labels (``honor_labels``). The demo draws its panels from it (demo/panels.py) and
the metric test reads its data (tests/ml/test_dashboard_metrics.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from pipelines.mlflow_server import free_port, stop

PROMETHEUS, PUSHGATEWAY = "prometheus", "prometheus-pushgateway"
ROOT = Path(__file__).resolve().parent.parent
# What the Prometheus operator adds to every PodMonitor target before the monitor's own relabelings.
OPERATOR_RELABELINGS = (
    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
)


def missing_binaries() -> list[str]:
    """Which of Debian's Prometheus and Pushgateway binaries are not on PATH."""
    return [name for name in (PROMETHEUS, PUSHGATEWAY) if not shutil.which(name)]


@dataclass(frozen=True)
class Target:
    """One scrape target: its address, the labels service discovery would give it, and relabelings."""

    job: str
    address: str
    labels: dict[str, str] = field(default_factory=dict)
    relabelings: tuple[dict[str, Any], ...] = ()
    honor_labels: bool = False


def relabel_configs(relabelings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A PodMonitor's ``relabelings`` as Prometheus's ``relabel_configs`` (the operator's spelling to Prometheus's)."""
    names = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return [{names.get(key, key): value for key, value in item.items()} for item in relabelings]


def chart_podmonitor(release: str, namespace: str, *sets: str) -> dict[str, Any]:
    """The serving chart's PodMonitor as helm renders it (monitoring on)."""
    helm = ROOT / ".bin" / "helm" if (ROOT / ".bin" / "helm").exists() else shutil.which("helm")
    if not helm:
        raise RuntimeError("no helm binary: run `make setup`")
    args = [str(helm), "template", release, str(ROOT / "charts" / "model-serving"), "--namespace", namespace,
            "--set", "model.storageUri=s3://bucket/model", "--set", "monitoring.enabled=true"]
    for item in sets:
        args += ["--set", item]
    rendered = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout
    (monitor,) = [d for d in yaml.safe_load_all(rendered) if d and d.get("kind") == "PodMonitor"]
    return monitor


def predictor_target(address: str, monitor: dict[str, Any], pod_labels: dict[str, str], pod: str) -> Target:
    """The model server as the PodMonitor's target: the pod's labels as service discovery sees them, the monitor's relabelings."""
    meta = {f"__meta_kubernetes_pod_label_{''.join(c if c.isalnum() else '_' for c in key)}": value for key, value in pod_labels.items()}
    meta |= {"__meta_kubernetes_namespace": monitor["metadata"]["namespace"], "__meta_kubernetes_pod_name": pod}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    return Target(f"{monitor['metadata']['namespace']}/{monitor['metadata']['name']}", address, meta,
                  (*OPERATOR_RELABELINGS, *relabel_configs(endpoint.get("relabelings", []))))


@dataclass(frozen=True)
class Prometheus:
    """A running Prometheus's HTTP API."""

    url: str

    def api(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus {path} {params}: {body.get('error', response.text[:200])}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def series(self, match: str) -> list[dict[str, str]]:
        return self.api("series", **{"match[]": match})

    def wait_for_scrape(self, jobs: int, timeout: float = 30.0) -> None:
        """Until every one of ``jobs`` targets has been scraped successfully once."""
        deadline = time.monotonic() + timeout
        while len([r for r in self.query("up == 1")]) < jobs:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prometheus at {self.url} has not scraped its {jobs} targets after {timeout:.0f} s")
            time.sleep(0.2)


def _wait_ready(url: str, process: subprocess.Popen, name: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} not ready after {timeout:.0f} s; see {log}")
        time.sleep(0.1)


@contextlib.contextmanager
def _serve(name: str, args: list[str], url: str, log_file: Path) -> Iterator[str]:
    with open(log_file, "ab") as log:
        process = subprocess.Popen([name, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={"PATH": os.environ["PATH"]})
        try:
            _wait_ready(url, process, name, log_file)
            yield url
        finally:
            stop(process)


@contextlib.contextmanager
def pushgateway(log_file: Path) -> Iterator[str]:
    """A Pushgateway on a free port (no persistence, as the platform runs it); yields its URL."""
    address = f"127.0.0.1:{free_port()}"
    with _serve(PUSHGATEWAY, [f"--web.listen-address={address}"], f"http://{address}", log_file) as url:
        yield url


@contextlib.contextmanager
def prometheus(data_dir: Path, targets: list[Target], log_file: Path, interval: str = "1s") -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` every ``interval``, its TSDB in ``data_dir`` (kept after it stops)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": t.job, "honor_labels": t.honor_labels, "static_configs": [{"targets": [t.address], "labels": t.labels}],
             "relabel_configs": list(t.relabelings)}
            for t in targets
        ],
    }
    (data_dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    address = f"127.0.0.1:{free_port()}"
    args = [f"--config.file={data_dir / 'prometheus.yml'}", f"--storage.tsdb.path={data_dir / 'tsdb'}",
            f"--web.listen-address={address}", "--log.level=warn"]
    with _serve(PROMETHEUS, args, f"http://{address}", log_file) as url:
        yield Prometheus(url)
