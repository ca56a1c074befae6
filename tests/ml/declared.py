"""The program's MLflow declaration, run here: the server with the exact command, arguments and environment of
the program's MLflow container, and the program's Jobs against it, called as the cluster calls them.

The declaration comes from the program's offline run (the infra environment, through a subprocess:
pulumi and kfp need different protobufs). Only what cannot exist here is mapped: the Postgres URI
to SQLite, the s3:// artifact destination to a local folder, the container port to a free one (also
admitted as a Host, the address the tests reach it at), the in-cluster URL to the local one.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo import INFRA_PYTHON
from pipelines.mlflow_server import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
EXPORT = """
import json, sys
from tooling import external_secret, offline
both = {}
for auth in ("off", "on"):
    run = offline.run(sys.argv[1], {"mlflowBasicAuth": auth == "on"})
    out = {"secrets": {}, "configmaps": {}}
    for r in run.resources:
        meta = r.inputs.get("metadata", {})
        if r.type == "kubernetes:apps/v1:Deployment" and meta.get("name") == "mlflow":
            out["container"] = r.inputs["spec"]["template"]["spec"]["containers"][0]
            out["volumes"] = r.inputs["spec"]["template"]["spec"].get("volumes", [])
        if r.type == "kubernetes:core/v1:Secret":
            out["secrets"][meta["namespace"] + "/" + meta["name"]] = r.inputs.get("stringData", {})
        if r.type == "kubernetes:external-secrets.io/v1:ExternalSecret":
            # What the operator renders (AWS stacks), with a test value per credential that URIs and ini files must escape.
            out["secrets"][meta["namespace"] + "/" + r.inputs["spec"]["target"]["name"]] = external_secret.render(r.inputs)
        if r.type == "kubernetes:core/v1:ConfigMap":
            out["configmaps"][meta["namespace"] + "/" + meta["name"]] = r.inputs.get("data", {})
        if r.type == "kubernetes:batch/v1:Job" and meta.get("name", "").startswith("mlflow-users-"):
            out["users_job"] = {"namespace": meta["namespace"], **r.inputs["spec"]["template"]["spec"]}
        if r.type == "kubernetes:core/v1:Service" and meta.get("name") == "mlflow":
            out["host"] = f"{meta['name']}.{meta['namespace']}.svc.cluster.local:{int(r.inputs['spec']['ports'][0]['port'])}"
    both[auth] = out
print(json.dumps(both))
"""


def declared(stack: str, auth: bool) -> dict:
    """The MLflow container, its Secrets and its in-cluster address as the program declares them."""
    return _declared(stack)["on" if auth else "off"]


@functools.cache
def _declared(stack: str) -> dict:
    """Both MLflow variants (auth off and on) of ``stack``, from one run of the infra environment."""
    if not INFRA_PYTHON.exists():
        pytest.fail("the infra environment is missing: run `make setup`")
    result = subprocess.run(
        [str(INFRA_PYTHON), "-c", EXPORT, stack], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def run_declared(spec: dict, namespace: str, work: Path) -> Iterator[str]:
    """Start the container's command with its args and env; yield the local base URL."""
    container = spec["container"]
    secrets = spec["secrets"]
    port = free_port()
    sqlite = f"sqlite:///{work / 'mlflow.db'}"
    mounts = {}
    for volume in spec["volumes"]:
        if "secret" in volume:
            folder = work / volume["name"]
            folder.mkdir()
            for item in volume["secret"]["items"]:
                text = secrets[f"{namespace}/{volume['secret']['secretName']}"][item["key"]]
                # The database the auth app keeps its users in: same mapping as the backend store.
                text = "\n".join(f"database_uri = sqlite:///{work / 'auth.db'}" if line.startswith("database_uri") else line
                                 for line in text.splitlines())
                (folder / item["path"]).write_text(text)
            mounts[volume["name"]] = folder
    mount_paths = {m["mountPath"]: mounts[m["name"]] for m in container["volumeMounts"] if m["name"] in mounts}
    env = {"PATH": os.environ["PATH"]}
    for item in container["env"]:
        if "value" in item:
            value = item["value"]
            for mount, folder in mount_paths.items():
                value = value.replace(mount, str(folder))
            env[item["name"]] = value if item["name"] != "HOME" else str(work)
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            value = secrets[f"{namespace}/{ref['name']}"][ref["key"]]
            env[item["name"]] = sqlite if item["name"] == "MLFLOW_BACKEND_STORE_URI" else value
    args = list(container["args"])
    args[args.index("--port") + 1] = str(port)
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--artifacts-destination") + 1] = str(work / "artifacts")
    args[args.index("--workers") + 1] = "1"
    args[args.index("--allowed-hosts") + 1] += f",127.0.0.1:{port}"
    command = [str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv-ml")) / "bin" / container["command"][0]), *args]
    process = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(url, process, timeout=90)
        except (RuntimeError, TimeoutError) as error:
            process.kill()
            output = process.stdout.read().decode(errors="replace")[-3000:] if process.stdout else ""
            raise AssertionError(f"{error}\n{output}") from None
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)




def run_users_job(spec: dict, url: str, work: Path) -> dict:
    """Run the declared users Job's container: its mounted code written out, its env resolved; its JSON output."""
    job = spec["users_job"]
    (container,) = job["containers"]
    namespace, volumes = job["namespace"], {volume["name"]: volume for volume in job["volumes"]}
    env = {"PATH": os.environ["PATH"]}
    for mount in container["volumeMounts"]:
        source = volumes[mount["name"]]
        folder = work / "job" / mount["mountPath"].lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        for key, text in spec["configmaps"].get(f"{namespace}/{source.get('configMap', {}).get('name')}", {}).items():
            (folder / key).write_text(text)
    for item in container["env"]:
        if "value" in item:
            value = item["value"]
            env[item["name"]] = str(work / "job" / value.lstrip("/")) if value.startswith("/") else value
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = spec["secrets"][f"{namespace}/{ref['name']}"][ref["key"]]
    env["MLFLOW_TRACKING_URI"] = url
    python = Path(sys.executable).parent / container["command"][0]
    done = subprocess.run([str(python), *container["command"][1:]], env=env, cwd=work, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
