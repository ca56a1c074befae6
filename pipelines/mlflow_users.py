"""People and the pipelines in MLflow: who signs in, and what each may do, through MLflow's own auth API.

- :func:`auth_config`: the basic-auth config every MLflow server of the platform runs with, in the cluster
  (infra/components/mlflow_server.py) and on this machine (pipelines/mlflow_server.py).
- The pipeline user: ``EDIT`` on the pipelines' experiments and their registered model (pipelines/cluster.py),
  so it logs runs, registers versions and moves aliases there, and nothing else: not ``MANAGE`` (it cannot
  grant, delete or rename), no user management. ``ensure-pipeline-user`` makes it so, idempotently: the
  program runs it as a Job once MLflow is up (infra/components/mlflow_users.py), the demo runs it locally.
- People: an admin adds each one with ``add --user alice --role reader|editor``.
- Everyone else signed in: ``DEFAULT_PERMISSION`` (``READ``) on what nobody granted them.

    python -m pipelines.mlflow_users add --user alice --role reader [--password-stdin] [--experiment E] [--model M]
    python -m pipelines.mlflow_users ensure-pipeline-user

Both run as an admin: ``MLFLOW_TRACKING_URI``, ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD``
(MLflow's client variables); ``ensure-pipeline-user`` also reads ``MLFLOW_PIPELINE_PASSWORD``. The standard
library only at import: the program (another environment) imports the names; MLflow inside the functions.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from typing import Any

from pipelines.cluster import MODEL_NAME, TRAINING_EXPERIMENT, drift_experiment
from pipelines.mlflow_server import signs_in

ADMIN_USERNAME = "admin"
PIPELINE_USERNAME = "kfp-pipelines"
# What a signed-in user may do on an experiment or model nobody granted them anything on. READ, not
# NO_PERMISSIONS: the registry exists to be shared (people compare runs, reviewers read a model's lineage,
# `pipelines.promote` reads the champion), and every write still needs a grant. Anonymous requests get 401
# either way; a team that must hide experiments from each other sets NO_PERMISSIONS and grants READ per user.
DEFAULT_PERMISSION = "READ"
PIPELINE_PERMISSION = "EDIT"
# The roles people get, as MLflow permissions on the experiments and models named (the pipelines' by default).
ROLES = {"reader": "READ", "editor": "EDIT"}
PIPELINE_EXPERIMENTS = (TRAINING_EXPERIMENT, drift_experiment(MODEL_NAME))
PIPELINE_MODELS = (MODEL_NAME,)
# The env var the pipeline user's password reaches ensure-pipeline-user in.
PIPELINE_PASSWORD_ENV = "MLFLOW_PIPELINE_PASSWORD"
# The modules the Job runs (the program mounts them under PYTHONPATH): this one and what it imports.
JOB_MODULES = ("__init__.py", "cluster.py", "mlflow_server.py", "mlflow_users.py")
AUTHORIZATION_FUNCTION = "mlflow.server.auth:authenticate_request_basic_auth"
# How long each server process remembers a verified credential (MLflow's own cache, off by default). Without it every
# request pays a scrypt check (werkzeug's default hash: 0.15 s of CPU here; a pipeline run makes hundreds of calls):
# 0.33 s per authenticated call against 6 ms unauthenticated on this machine. MLflow drops a user's entries when an
# admin changes their password or deletes them (in the process that served the change; other workers within the TTL).
AUTH_CACHE_TTL_SECONDS = 300


def auth_config(database_uri: str, admin_password: str) -> str:
    """MLflow's basic_auth.ini (keys of mlflow/server/auth/config.py at the pinned MLflow)."""
    return "\n".join(
        [
            "[mlflow]",
            f"default_permission = {DEFAULT_PERMISSION}",
            f"database_uri = {database_uri}",
            f"admin_username = {ADMIN_USERNAME}",
            f"admin_password = {admin_password}",
            f"authorization_function = {AUTHORIZATION_FUNCTION}",
            f"auth_cache_ttl_seconds = {AUTH_CACHE_TTL_SECONDS}",
        ]
    )


def _clients(tracking_uri: str) -> tuple[Any, Any]:
    from mlflow import MlflowClient
    from mlflow.server.auth.client import AuthServiceClient

    return AuthServiceClient(tracking_uri), MlflowClient(tracking_uri)


def _error_code(error: Exception) -> str:
    return str(getattr(error, "error_code", ""))


def ensure_user(auth: Any, username: str, password: str | None) -> str:
    """Create ``username`` (or set its password when it exists and one is given); what was done."""
    from mlflow.exceptions import MlflowException

    if not password:
        try:
            auth.get_user(username)
            return "kept"
        except MlflowException as error:
            if "RESOURCE_DOES_NOT_EXIST" not in _error_code(error):
                raise
        raise ValueError(f"user {username!r} does not exist yet: give it a password (--password-stdin, or none to generate one)")
    try:
        auth.create_user(username, password)
        return "created"
    except MlflowException as error:
        if "RESOURCE_ALREADY_EXISTS" not in _error_code(error):
            raise
    if signs_in(auth.tracking_uri, username, password):
        return "kept"
    # The Secret is the truth: a rotated password reaches MLflow on the next run.
    auth.update_user_password(username, password)
    return "password set"


def grant(auth: Any, username: str, resource_type: str, resource_id: str, permission: str) -> str:
    """Give ``username`` exactly ``permission`` on one experiment (by id) or registered model (by name)."""
    from mlflow.exceptions import MlflowException

    try:
        auth.grant_user_permission(username, resource_type, resource_id, permission)
        return "granted"
    except MlflowException as error:
        if "RESOURCE_ALREADY_EXISTS" not in _error_code(error):
            raise
    if auth.get_user_permission(username, resource_type, resource_id).permission == permission:
        return "kept"
    # MLflow's grant refuses to overwrite: a changed level is a revoke and a new grant.
    auth.revoke_user_permission(username, resource_type, resource_id)
    auth.grant_user_permission(username, resource_type, resource_id, permission)
    return "changed"


def experiment_id(client: Any, name: str) -> str:
    """The experiment's id, created by the admin (who then holds MANAGE, not the grantee) or restored if deleted."""
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name)
    if found.lifecycle_stage == "deleted":
        client.restore_experiment(found.experiment_id)
    return found.experiment_id


def registered_model(client: Any, name: str) -> str:
    """Make the registered model exist (the admin's), so the grantee gets EDIT on it, never MANAGE."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if "RESOURCE_ALREADY_EXISTS" not in _error_code(error):
            raise
    return name


def grant_resources(tracking_uri: str, username: str, permission: str, experiments: tuple[str, ...],
                    models: tuple[str, ...]) -> dict[str, str]:
    """``permission`` for ``username`` on each experiment and registered model; what each grant did."""
    auth, client = _clients(tracking_uri)
    done = {}
    for name in experiments:
        done[f"experiment {name}"] = grant(auth, username, "experiment", experiment_id(client, name), permission)
    for name in models:
        done[f"registered_model {name}"] = grant(auth, username, "registered_model", registered_model(client, name), permission)
    return done


def ensure_pipeline_user(tracking_uri: str, password: str) -> dict[str, str]:
    """The pipeline user exists with ``password`` and EDIT on the pipelines' experiments and model."""
    auth, _ = _clients(tracking_uri)
    done = {"user": ensure_user(auth, PIPELINE_USERNAME, password)}
    done.update(grant_resources(tracking_uri, PIPELINE_USERNAME, PIPELINE_PERMISSION, PIPELINE_EXPERIMENTS, PIPELINE_MODELS))
    return done


def add_user(tracking_uri: str, username: str, role: str, password: str | None, experiments: tuple[str, ...],
             models: tuple[str, ...]) -> dict[str, str]:
    """A person with ``role`` on the experiments and models; a new user without a password gets a generated one."""
    if username in (ADMIN_USERNAME, PIPELINE_USERNAME):
        raise ValueError(f"{username!r} is the platform's own user; people get their own name")
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    auth, _ = _clients(tracking_uri)
    done: dict[str, str] = {}
    try:
        done["user"] = ensure_user(auth, username, password)
    except ValueError:
        password = secrets.token_urlsafe(24)
        done["user"] = ensure_user(auth, username, password)
        done["password"] = password
    done.update(grant_resources(tracking_uri, username, ROLES[role], experiments, models))
    return done


def _admin_uri() -> str:
    missing = [name for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD") if not os.environ.get(name)]
    if missing:
        raise ValueError(f"set {', '.join(missing)} (the MLflow server and an admin's credentials)")
    return os.environ["MLFLOW_TRACKING_URI"].rstrip("/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a person (or change their role) as an admin")
    add.add_argument("--user", required=True, help="their user name")
    add.add_argument("--role", required=True, choices=sorted(ROLES), help="reader: READ; editor: EDIT (log runs, register, alias)")
    add.add_argument("--password-stdin", action="store_true", help="read their password from stdin (default: keep an existing "
                     "user's, generate and print one for a new user)")
    add.add_argument("--experiment", action="append", help=f"an experiment to grant on (default: {', '.join(PIPELINE_EXPERIMENTS)})")
    add.add_argument("--model", action="append", help=f"a registered model to grant on (default: {', '.join(PIPELINE_MODELS)})")
    commands.add_parser("ensure-pipeline-user", help=f"create {PIPELINE_USERNAME!r} and its grants (the program's Job)")
    args = parser.parse_args(argv)
    from mlflow.exceptions import MlflowException

    from pipelines.mlflow_server import wait_until_healthy

    try:
        tracking_uri = _admin_uri()
        if args.command == "ensure-pipeline-user":
            password = os.environ.get(PIPELINE_PASSWORD_ENV, "")
            if not password:
                raise ValueError(f"set {PIPELINE_PASSWORD_ENV} (the pipeline user's password, from its Secret)")
            # A Job started with the server: wait for it, then act.
            wait_until_healthy(tracking_uri, timeout=300)
            done = ensure_pipeline_user(tracking_uri, password)
        else:
            password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
            done = add_user(tracking_uri, args.user, args.role, password, tuple(args.experiment or PIPELINE_EXPERIMENTS),
                            tuple(args.model or PIPELINE_MODELS))
    except (ValueError, MlflowException) as error:
        # MLflow's messages carry the response body on later lines: the first says what was refused.
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    print(json.dumps(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
