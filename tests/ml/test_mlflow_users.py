"""Who may do what in MLflow, against the real server: the program's MLflow container (basic auth on) run here
with the program's users Job run against it (tests/ml/declared.py), then each user's requests."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

from pipelines import mlflow_users
from pipelines.cluster import MODEL_NAME, TRAINING_EXPERIMENT, drift_experiment
from pipelines.mlflow_server import signed_in
from tests.ml.declared import declared, run_declared, run_users_job

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """The running server, its users' credentials and the first run of the users Job."""

    def __init__(self, url: str, spec: dict, first_job: dict) -> None:
        self.url, self.spec, self.first_job = url, spec, first_job
        pipeline = spec["secrets"]["kubeflow/mlflow-credentials"]
        config = spec["secrets"]["mlflow/mlflow-config"]
        self.pipeline = (pipeline["username"], pipeline["password"])
        self.admin = (config["admin-username"], config["admin-password"])

    def cli(self, *args: str, stdin: str = "", admin: tuple[str, str] | None = None, process: bool = False) -> Done:
        """``python -m pipelines.mlflow_users ...`` as an admin runs it: in a process of its own, or (faster,
        MLflow already imported) its ``main`` here with the same environment and stdin."""
        username, password = admin or self.admin
        env = {"MLFLOW_TRACKING_URI": self.url, "MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password}
        if process:
            done = subprocess.run([sys.executable, "-m", "pipelines.mlflow_users", *args], cwd=ROOT, env={**os.environ, **env},
                                  input=stdin, capture_output=True, text=True, timeout=120)
            return Done(done.returncode, done.stdout, done.stderr)
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            patch.setattr(sys, "stdin", io.StringIO(stdin))
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = mlflow_users.main(list(args))
        return Done(code, out.getvalue(), err.getvalue())


class Done(NamedTuple):
    """What a CLI run returned and printed."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The staging stack's MLflow with auth, after the program's users Job ran once."""
    spec = declared("staging", True)
    work = tmp_path_factory.mktemp("mlflow-users")
    with run_declared(spec, "mlflow", work) as url:
        yield Server(url, spec, run_users_job(spec, url, work))


def refused(call: Callable[[], object]) -> str:
    """The error code MLflow answered ``call`` with; fails when it was allowed."""
    with pytest.raises(MlflowException) as caught:
        call()
    return str(caught.value.error_code)


def test_users_job_creates_the_pipeline_user_then_changes_nothing(server: Server, tmp_path: Path) -> None:
    """The users Job is idempotent: its first run creates the user and its grants, a second run keeps them."""
    grants = {f"experiment {name}" for name in mlflow_users.PIPELINE_EXPERIMENTS} | {f"registered_model {MODEL_NAME}"}
    assert server.first_job == {"user": "created", **dict.fromkeys(grants, "granted")}
    assert run_users_job(server.spec, server.url, tmp_path) == {"user": "kept", **dict.fromkeys(grants, "kept")}


def test_the_steps_sign_in_as_the_pipeline_user_not_the_admin(server: Server) -> None:
    """The Secret the pipeline steps read names the pipeline user, which MLflow does not hold as an admin."""
    assert server.pipeline[0] == mlflow_users.PIPELINE_USERNAME != server.admin[0]
    with signed_in(*server.admin):
        assert not AuthServiceClient(server.url).get_user(server.pipeline[0]).is_admin


def test_pipeline_user_logs_runs_registers_and_moves_aliases(server: Server) -> None:
    """The pipeline user writes to its experiments and registers and aliases versions of its model."""
    with signed_in(*server.pipeline):
        client = mlflow.MlflowClient(server.url)
        for name in (TRAINING_EXPERIMENT, drift_experiment(MODEL_NAME)):
            run = client.create_run(client.get_experiment_by_name(name).experiment_id)
            client.log_metric(run.info.run_id, "roc_auc", 0.95)
            client.set_terminated(run.info.run_id)
        version = client.create_model_version(MODEL_NAME, f"runs:/{run.info.run_id}/model", run.info.run_id)
        client.set_model_version_tag(MODEL_NAME, version.version, "gate", "passed")
        client.set_registered_model_alias(MODEL_NAME, "champion", version.version)
        assert client.get_model_version_by_alias(MODEL_NAME, "champion").version == version.version


def test_pipeline_user_cannot_delete_grant_or_manage_users(server: Server) -> None:
    """EDIT, not MANAGE: the pipeline user deletes no experiment (another's or its own), grants nothing, manages no user."""
    with signed_in(*server.admin):
        other = mlflow.MlflowClient(server.url).create_experiment("someone-elses-experiment")
    with signed_in(*server.pipeline):
        client, auth = mlflow.MlflowClient(server.url), AuthServiceClient(server.url)
        own = client.get_experiment_by_name(TRAINING_EXPERIMENT).experiment_id
        assert refused(lambda: client.delete_experiment(other)) == "PERMISSION_DENIED"
        assert refused(lambda: client.delete_experiment(own)) == "PERMISSION_DENIED"
        assert refused(lambda: client.create_run(other)) == "PERMISSION_DENIED"
        assert refused(lambda: client.delete_registered_model(MODEL_NAME)) == "PERMISSION_DENIED"
        assert refused(lambda: auth.create_user("mallory", "a-long-enough-password")) == "PERMISSION_DENIED"
        assert refused(lambda: auth.grant_user_permission(mlflow_users.PIPELINE_USERNAME, "experiment", other, "EDIT")) == "PERMISSION_DENIED"
        assert refused(lambda: auth.update_user_admin(mlflow_users.PIPELINE_USERNAME, True)) == "PERMISSION_DENIED"


def test_reader_reads_but_cannot_write(server: Server) -> None:
    """A reader added with the CLI reads the experiments and the registry and writes nothing."""
    added = server.cli("add", "--user", "alice", "--role", "reader", process=True)
    assert added.returncode == 0, added.stderr
    password = json.loads(added.stdout)["password"]
    with signed_in("alice", password):
        client = mlflow.MlflowClient(server.url)
        experiment = client.get_experiment_by_name(TRAINING_EXPERIMENT).experiment_id
        assert client.search_runs([experiment]) is not None
        assert client.get_registered_model(MODEL_NAME).name == MODEL_NAME
        assert refused(lambda: client.create_run(experiment)) == "PERMISSION_DENIED"
        assert refused(lambda: client.set_registered_model_alias(MODEL_NAME, "champion", "1")) == "PERMISSION_DENIED"
        assert refused(lambda: client.delete_experiment(experiment)) == "PERMISSION_DENIED"


def test_editor_writes_and_a_changed_role_takes_effect(server: Server) -> None:
    """An editor logs runs; the CLI run again with reader takes that away (the grant is changed, not duplicated)."""
    password = "bobs-own-password-42"
    assert server.cli("add", "--user", "bob", "--role", "editor", "--password-stdin", stdin=password + "\n").returncode == 0
    with signed_in("bob", password):
        client = mlflow.MlflowClient(server.url)
        experiment = client.get_experiment_by_name(TRAINING_EXPERIMENT).experiment_id
        client.set_terminated(client.create_run(experiment).info.run_id)
        assert refused(lambda: client.delete_experiment(experiment)) == "PERMISSION_DENIED"
    again = server.cli("add", "--user", "bob", "--role", "reader")
    assert again.returncode == 0, again.stderr
    assert "password" not in again.stdout and '"changed"' in again.stdout
    with signed_in("bob", password):
        assert refused(lambda: mlflow.MlflowClient(server.url).create_run(experiment)) == "PERMISSION_DENIED"


def test_admin_deletes_and_manages_users(server: Server) -> None:
    """The admin keeps every right: it deletes experiments and creates users."""
    with signed_in(*server.admin):
        client = mlflow.MlflowClient(server.url)
        doomed = client.create_experiment("to-be-deleted")
        client.delete_experiment(doomed)
        assert client.get_experiment(doomed).lifecycle_stage == "deleted"
        assert AuthServiceClient(server.url).create_user("carol", "carols-password-1").username == "carol"


def test_server_remembers_credentials_but_a_changed_or_deleted_one_is_refused_at_once(server: Server, tmp_path: Path,
                                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow reads the declared credential cache setting, and its cache never outlives a password change or a deletion."""
    from mlflow.server.auth.config import read_auth_config

    ini = tmp_path / "basic_auth.ini"
    ini.write_text(server.spec["secrets"]["mlflow/mlflow-config"]["basic_auth.ini"])
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    assert read_auth_config().auth_cache_ttl_seconds == mlflow_users.AUTH_CACHE_TTL_SECONDS > 0
    old, new = "franks-first-password", "franks-second-password"
    with signed_in(*server.admin):
        auth = AuthServiceClient(server.url)
        auth.create_user("frank", old)
        assert mlflow_users.signs_in(server.url, "frank", old)  # now remembered by the server
        auth.update_user_password("frank", new)
        assert not mlflow_users.signs_in(server.url, "frank", old)
        assert mlflow_users.signs_in(server.url, "frank", new)
        auth.delete_user("frank")
        assert not mlflow_users.signs_in(server.url, "frank", new)


@pytest.mark.parametrize(
    ("args", "caller", "message"),
    [
        (("add", "--user", mlflow_users.PIPELINE_USERNAME, "--role", "editor"), "admin", "is the platform's own user"),
        (("add", "--user", "dave", "--role", "reader"), "pipeline", "403"),
        (("add", "--user", "erin", "--role", "reader", "--password-stdin"), "admin", "12 characters"),
    ],
    ids=["platform-user", "not-an-admin", "short-password"],
)
def test_cli_refuses_with_one_line(server: Server, args: tuple[str, ...], caller: str, message: str) -> None:
    """The CLI refuses a platform user's name, a caller who is no admin and a password MLflow rejects, in one line, exit 2."""
    done = server.cli(*args, stdin="short\n", admin=server.pipeline if caller == "pipeline" else server.admin)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
