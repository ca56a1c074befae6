"""The local end-to-end run behind `make demo`.

data -> KFP pipeline (kfp.local) -> MLflow registry gate -> V2 serving (MLServer,
as KServe runs scikit-learn) -> predictions -> a drifted batch and the drift pipeline, both scraped
by a real Prometheus (and the drift score pushed to a real Pushgateway) whose data draws the serving
and drift dashboards' panels, then the serving chart rendered for staging and the offline preview of the staging stack. Every process it starts
is stopped on success, failure, Ctrl-C or SIGTERM.

    python -m demo [--rows 20000] [--workdir .demo] [--skip-platform]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from demo import BACKGROUND
from demo.platform import PlatformChecks, platform_preview
from pipelines.cluster import MLFLOW_CREDENTIALS_ENV, MODEL_NAME
from pipelines.mlflow_server import free_port, mlflow_server, signed_in
from pipelines.mlflow_users import ADMIN_USERNAME, PIPELINE_PASSWORD_ENV, PIPELINE_USERNAME
from pipelines.step_server import step_server

if TYPE_CHECKING:
    import mlflow

    from demo.serving import ModelServer
    from pipelines.run import PipelineResult

ROOT = Path(__file__).resolve().parent.parent
# The second run's deliberately weak configuration: boosted stumps, 3 rounds.
WEAK_GRID = {"max_iter": [3], "max_depth": [1]}
STEPS = 10


class Progress:
    """Numbered step lines with timings."""

    def __init__(self, total: int) -> None:
        self.total, self.index, self.started = total, 0, time.perf_counter()

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        _raise_if_interrupted()
        self.index += 1
        print(f"\n[{self.index}/{self.total}] {title}", flush=True)
        began = time.perf_counter()
        yield
        _raise_if_interrupted()
        print(f"      done in {time.perf_counter() - began:.1f} s", flush=True)

    def say(self, line: str) -> None:
        print(f"      {line}", flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


_INTERRUPTED = threading.Event()


def _stop_on_signals() -> None:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt so the cleanup below runs.

    The signal is also remembered: a KeyboardInterrupt raised where a library catches everything
    is raised again at the next step boundary (:meth:`Progress.step`), so no interrupt is lost.
    """

    def handler(signum: int, frame: Any) -> None:
        _INTERRUPTED.set()
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _raise_if_interrupted() -> None:
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt("interrupted")


def _stop_descendants() -> None:
    """Stop every process the demo started that is still running.

    kfp.local runs each step as a child process and, on Ctrl-C, leaves it running
    (``Popen.__exit__`` waits 0.25 s and moves on); a signal sent to the demo
    alone never reaches it.
    """
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def users_job_process(tracking_uri: str, admin_password: str, pipeline_password: str, log: Path) -> subprocess.Popen[str]:
    """The program's MLflow users Job (``python -m pipelines.mlflow_users ensure-pipeline-user``), started now as the
    admin: it waits for MLflow, then creates the pipeline user and its grants."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, PIPELINE_PASSWORD_ENV: pipeline_password,
           **dict(zip(MLFLOW_CREDENTIALS_ENV.values(), (ADMIN_USERNAME, admin_password), strict=True))}
    # In the background: it waits for MLflow, whose start it would otherwise slow down.
    return subprocess.Popen([*BACKGROUND, sys.executable, "-m", "pipelines.mlflow_users", "ensure-pipeline-user"], cwd=ROOT, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=log.open("w"))


def users_job_result(process: subprocess.Popen[str], log: Path) -> dict[str, str]:
    """What the users Job did; raises naming its log when it failed."""
    stdout, _ = process.communicate(timeout=300)
    if process.returncode != 0:
        raise RuntimeError(f"the MLflow users Job failed (exit {process.returncode}); its log: {log}")
    return json.loads(stdout)


def serve_champion(client: mlflow.MlflowClient, stack: contextlib.ExitStack, workdir: Path,
                   metrics_port: int) -> tuple[Any, ModelServer]:
    """Download the champion and start MLServer on it in ``stack``, without waiting for it: (its version, the server)."""
    import mlflow

    from demo.serving import model_server, prepare_model_dir

    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    folder = workdir / "downloads" / f"v{champion.version}"
    model_dir = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL_NAME}/{champion.version}", dst_path=str(folder)))
    mounted = prepare_model_dir(model_dir, workdir / "serving" / f"v{champion.version}" / "mnt" / "models")
    server = stack.enter_context(model_server(mounted, MODEL_NAME, workdir / "logs" / "mlserver.log",
                                              metrics_port=metrics_port, wait=False))
    return champion, server


def champion_grid(client: mlflow.MlflowClient, run_id: str, searched: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The champion's values of the ``searched`` parameters (its evaluate step logged them) as a one-point grid."""
    logged = client.get_run(run_id).data.params
    return {name: [json.loads(logged[name])] for name in searched}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of synthetic data (default 20000)")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo", help="where everything lives (default .demo/)")
    parser.add_argument("--skip-platform", action="store_true", help="skip the chart render and the stack preview")
    args = parser.parse_args(argv)
    _stop_on_signals()
    workdir = args.workdir.resolve()
    # Start clean: a previous run's stores never leak into this one.
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "logs").mkdir(parents=True)
    progress = Progress(STEPS)
    summary: dict[str, Any] = {"workdir": str(workdir)}
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(_stop_descendants)  # last, after the servers' own stops
            # What the lifecycle needs first starts before its libraries load (MLflow, pandas, kfp: 4 s of CPU), beside them:
            # the staging preview, the step server (the pipelines' steps are forks of one interpreter that imports their
            # libraries once), MLflow and the users Job.
            checks = PlatformChecks() if not args.skip_platform else None
            stack.enter_context(step_server(workdir / "steps", log=workdir / "logs" / "step-server.log"))
            with progress.step("Start an MLflow tracking server and registry (SQLite, local artifacts, basic auth)"):
                # With the cluster's auth config. The admin creates the pipeline user and its grants with the program's
                # users Job command, beside the first run (whose first MLflow call waits until MLflow accepts the
                # user, as a step in the cluster does); everything below signs in as that user, never as the admin.
                admin, pipeline = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
                tracking_uri = stack.enter_context(mlflow_server(workdir / "mlflow", log_file=workdir / "logs" / "mlflow.log",
                                                                 wait=False, admin_password=admin))
                users_job = users_job_process(tracking_uri, admin, pipeline, workdir / "logs" / "mlflow-users.log")
                stack.enter_context(signed_in(PIPELINE_USERNAME, pipeline))
                progress.say(f"MLflow starting at {tracking_uri}; the users Job creates {PIPELINE_USERNAME!r} meanwhile")

            # The lifecycle's libraries, here and not at the top: they load while the processes above start.
            import mlflow

            from demo import panels, report
            from demo.customers import FeatureStore, serve_by_customer
            from demo.queries import INFERENCE_SERVICE, NAMESPACE, send_logged, serve_and_query
            from pipelines.fraud.contract import FEATURES, LABEL
            from pipelines.fraud.data import drifted, generate
            from pipelines.fraud.pipeline import DEFAULT_PARAM_GRID
            from pipelines.run import run_drift, run_pipeline

            with progress.step("Generate the fraud data set into the local object store"):
                data = workdir / "store" / "data" / "fraud.csv"
                data.parent.mkdir(parents=True)
                frame = generate(args.rows, seed=7)
                frame.to_csv(data, index=False)
                progress.say(f"{len(frame)} transactions, fraud rate {frame[LABEL].mean():.2%} -> {data}")

            # The feature store prepares in the features environment while the pipelines run (demo/customers.py).
            feature_store = FeatureStore.start(workdir, args.rows)
            metrics_port = free_port()
            scrape = panels.start_monitoring(stack, f"127.0.0.1:{metrics_port}", workdir, NAMESPACE, INFERENCE_SERVICE, progress.say)

            results: dict[str, PipelineResult] = {}
            with progress.step("Run the training pipeline with kfp.local: first run"):
                results["first"] = run_pipeline(str(data), tracking_uri, workdir / "kfp", echo=False, run_name="demo-first")
                granted = users_job_result(users_job, workdir / "logs" / "mlflow-users.log")
                progress.say(f"the pipelines sign in as {PIPELINE_USERNAME!r}: " + ", ".join(f"{what} {done}" for what, done in granted.items()))
                progress.say(f"gate: {results['first'].gate_reason}")
            # The champion starts serving now, beside the second run (which the gate is expected to reject).
            mlflow.set_tracking_uri(tracking_uri)
            client = mlflow.MlflowClient()
            serving = stack.enter_context(contextlib.ExitStack())
            served, server = serve_champion(client, serving, workdir, metrics_port)
            with progress.step("Run it again with a deliberately weak configuration"):
                results["second"] = run_pipeline(
                    str(data), tracking_uri, workdir / "kfp", echo=False, run_name="demo-weak", param_grid=WEAK_GRID
                )
                progress.say(f"gate: {results['second'].gate_reason}")

            with progress.step("Serve the champion on the V2 protocol (MLServer sklearn runtime) and query it"):
                champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
                if champion.version != served.version:  # the second run won after all: serve it instead
                    serving.close()
                    served, server = serve_champion(client, serving, workdir, metrics_port)
                server.wait_ready()
                progress.say(f"{MODEL_NAME} v{champion.version} ready at {server.url}/v2/models/{MODEL_NAME}")
                scrape = panels.scraping(scrape, progress.say)
                summary["serving"] = serve_and_query(server, frame, progress.say)
                summary["serving"]["url"] = server.url

            with progress.step("Serve by customer id: the feature store's online features through the transformer"):
                if feature_store.process is None:
                    summary["customers"] = {"skipped": True, "reason": "no features environment: run `make setup`"}
                    progress.say(f"skipped: {summary['customers']['reason']}")
                else:
                    summary["customers"] = serve_by_customer(feature_store, MODEL_NAME, server.url.split("://", 1)[1],
                                                             progress.say)

            with progress.step("Drift: send a shifted batch, run the model-drift pipeline (drift retrains, the gate decides)"):
                log_root = workdir / "store" / "inference-logs"
                normal = frame.sample(n=200, random_state=3)[FEATURES].astype(float).values.tolist()
                shifted = drifted(frame.sample(n=800, random_state=4))[FEATURES].astype(float).values.tolist()
                progress.say(f"logged {send_logged(server, normal, log_root)} everyday rows and "
                             f"{send_logged(server, shifted, log_root)} shifted rows (far from home, online, no chip)")
                # With data_uri the drift run retrains when the score reaches the alert's threshold; here it refits the
                # champion's parameters (a one-point grid) instead of searching the scheduled run's grid again.
                found = run_drift(str(log_root), tracking_uri, workdir / "kfp", NAMESPACE, INFERENCE_SERVICE, echo=False,
                                  data_uri=str(data), pushgateway_url=scrape.pushgateway if scrape else "",
                                  retrain_param_grid=champion_grid(client, champion.run_id, DEFAULT_PARAM_GRID))
                progress.say(f"drift score {found.drift_score:.2f} ({found.status}); drifted features: {', '.join(found.drifted) or 'none'}")
                if found.retrained:
                    outcome = "champion" if found.retrained["promoted"] else "challenger, not promoted"
                    progress.say(f"retraining triggered by {found.trigger}: v{found.retrained['version']} ({outcome}); "
                                 f"gate: {found.retrained['gate']}")
                else:
                    progress.say("no retraining triggered")
                summary["drift"] = vars(found)

            with progress.step("Dashboards: draw the serving and drift panels from what Prometheus scraped"):
                summary["panels"] = panels.draw_panels(scrape, workdir, NAMESPACE, INFERENCE_SERVICE, progress.say)

            with progress.step("The platform: serving chart for staging, offline preview of the staging stack"):
                summary["platform"] = (
                    {"skipped": True}
                    if args.skip_platform
                    else platform_preview(client.get_model_version_download_uri(MODEL_NAME, champion.version), checks, progress.say)
                )

            with progress.step("Write the report"):
                summary["registry"] = report.registry_state(client, MODEL_NAME)
                summary["runs"] = {name: vars(result) for name, result in results.items()}
                summary["tracking_uri"] = tracking_uri
                summary["seconds"] = progress.elapsed
                path = report.write(workdir, summary, client)
                progress.say(f"report: {path}")
    except KeyboardInterrupt:
        print("\ninterrupted: every process the demo started has been stopped", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - one line for the person, the servers are already stopped
        print(f"\nerror: demo failed: {type(error).__name__}: {error} (the servers' logs: {workdir / 'logs'})", file=sys.stderr)
        return 1
    summary["seconds"] = progress.elapsed
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nDemo finished in {progress.elapsed:.0f} s; servers stopped. Report: {workdir / 'report.md'}")
    return 0
