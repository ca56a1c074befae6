"""Run what the program declares for the in-cluster database: Postgres started with the StatefulSet's
own flags and its pg_hba.conf, MLflow's database URI tried as the cluster would, over TLS.

Only what cannot exist here is mapped: the mount paths to a temporary folder, the service's DNS
name to 127.0.0.1 (libpq's ``hostaddr``, so the certificate is still checked against the name), the
port to a free one. The certificates are made with openssl the way pulumi-tls makes them (an ECDSA
P-256 CA, a server certificate for the declared DNS names); under mocks they are placeholders.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from infra.components import cluster_postgres
from pipelines.mlflow_server import free_port
from tests import certificates
from tooling import offline

BINDIRS = [Path(p) for p in ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")]
BINDIR = next((d for d in BINDIRS if (d / "postgres").exists() and (d / "psql").exists()), None)
pytestmark = pytest.mark.skipif(BINDIR is None or shutil.which("openssl") is None,
                                reason="needs PostgreSQL's server and psql (apt install postgresql) and openssl")
AS_ROOT = os.geteuid() == 0


def _one(run: offline.OfflineRun, resource_type: str, name: str) -> dict:
    (match,) = [r.inputs for r in run.of_type(resource_type) if r.inputs.get("metadata", {}).get("name") == name]
    return match


@pytest.fixture(scope="module")
def declared() -> dict:
    """The local stack's Postgres container, pg_hba.conf, server DNS names, password and MLflow's database URI."""
    run = offline.run("local")  # generated values; AWS stacks sync them (test_credentials.py)
    statefulset = _one(run, "kubernetes:apps/v1:StatefulSet", "postgres")
    (request,) = [r.inputs for r in run.of_type("tls:index/certRequest:CertRequest") if "postgres" in r.inputs["dnsNames"]]
    mlflow = _one(run, "kubernetes:apps/v1:Deployment", "mlflow")["spec"]["template"]["spec"]
    return {
        "container": statefulset["spec"]["template"]["spec"]["containers"][0],
        "pod": statefulset["spec"]["template"]["spec"],
        "hba": _one(run, "kubernetes:core/v1:ConfigMap", "postgres-hba")["data"]["pg_hba.conf"],
        "dns_names": request["dnsNames"],
        "password": _one(run, "kubernetes:core/v1:Secret", "postgres-credentials")["stringData"]["password"],
        "uri": _one(run, "kubernetes:core/v1:Secret", "mlflow-config")["stringData"]["backend-store-uri"],
        "mlflow_mounts": {m["mountPath"]: m["name"] for m in mlflow["containers"][0]["volumeMounts"]},
        "mlflow_volumes": {v["name"]: v for v in mlflow["volumes"]},
    }


def _as_postgres(args: list[str]) -> list[str]:
    """Postgres refuses to run as root: run it as the postgres user there."""
    return ["runuser", "-u", "postgres", "--", *args] if AS_ROOT else args


@pytest.fixture(scope="module")
def server(declared: dict) -> Iterator[dict]:
    """Postgres with the declared flags, key pair mounts and pg_hba.conf; yields where it listens and the CA."""
    assert BINDIR is not None
    root = Path(tempfile.mkdtemp(prefix="pg-tls-"))
    mounts = {m["mountPath"]: m["name"] for m in declared["container"]["volumeMounts"]}
    volumes = {v["name"]: v for v in declared["pod"]["volumes"]}
    folders = {path: root / name for path, name in mounts.items()}
    for folder in (*folders.values(), root / "certs"):
        folder.mkdir()
    certificates.make(root / "certs", declared["dns_names"], "server")
    tls = folders[cluster_postgres.TLS_DIR]
    shutil.copy(root / "certs" / "server.crt", tls / "tls.crt")
    shutil.copy(root / "certs" / "server.key", tls / "tls.key")
    # As the kubelet lays out the Secret volume: root-owned, group fsGroup, the volume's defaultMode.
    mode = int(volumes[mounts[cluster_postgres.TLS_DIR]]["secret"]["defaultMode"])  # a number through the engine
    assert declared["pod"]["securityContext"]["fsGroup"] == declared["pod"]["securityContext"]["runAsUser"]
    for file in tls.iterdir():
        if AS_ROOT:
            shutil.chown(file, "root", "postgres")
        os.chmod(file, mode if AS_ROOT else 0o600)
    (folders[cluster_postgres.HBA_DIR] / "pg_hba.conf").write_text(declared["hba"])
    # PGDATA under the data volume, as the container's env says.
    (pgdata,) = [e["value"] for e in declared["container"]["env"] if e["name"] == "PGDATA"]
    data = Path(pgdata.replace("/var/lib/postgresql/data", str(folders["/var/lib/postgresql/data"])))
    socket_dir = folders["/var/run/postgresql"]
    password_file = root / "password"
    password_file.write_text(declared["password"])
    if AS_ROOT:
        for path in (root, folders["/var/lib/postgresql/data"], socket_dir, password_file):
            shutil.chown(path, "postgres")
    subprocess.run(_as_postgres([str(BINDIR / "initdb"), "-D", str(data), "-U", "mlflow", "--pwfile", str(password_file),
                                 "--auth-local=trust", "--auth-host=scram-sha-256"]), check=True, capture_output=True)
    # The image's entrypoint creates POSTGRES_DB; here single-user mode does.
    subprocess.run(_as_postgres([str(BINDIR / "postgres"), "--single", "-D", str(data), "postgres"]),
                   input="CREATE DATABASE mlflow;\n", text=True, check=True, capture_output=True)
    args = list(declared["container"]["args"])
    for path, folder in folders.items():
        args = [a.replace(path, str(folder)) for a in args]
    port = free_port()
    log = root / "postgres.log"
    process = subprocess.Popen(
        _as_postgres([str(BINDIR / "postgres"), "-D", str(data), "-p", str(port), "-k", str(socket_dir),
                      "-c", "listen_addresses=127.0.0.1", *args]),
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([str(BINDIR / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode != 0:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield {"port": port, "ca": root / "certs" / "server-ca.crt", "root": root, "log": log}
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _psql(uri: str, server: dict, ca: Path | None = None, **options: str) -> subprocess.CompletedProcess[str]:
    """psql with MLflow's URI as the cluster resolves it: the service name at 127.0.0.1, the CA at its mount."""
    parts = urlsplit(uri)
    query = parts.query.replace(cluster_postgres.CA_FILE, str(ca or server["ca"]))
    for key, value in options.items():
        query = "&".join(item for item in query.split("&") if not item.startswith(f"{key}=")) + f"&{key}={value}"
    netloc = parts.netloc.replace(f":{parts.port}", f":{server['port']}")
    mapped = f"{parts.scheme}://{netloc}{parts.path}?{query}&hostaddr=127.0.0.1"
    return subprocess.run([str(BINDIR / "psql"), mapped, "-Atc", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
                          capture_output=True, text=True, timeout=30, env={"PATH": os.environ["PATH"]})


def test_mlflow_reaches_the_database_over_verified_tls(declared: dict, server: dict) -> None:
    """MLflow's URI (verify-full against the mounted CA) connects, and the session is encrypted."""
    assert "sslmode=verify-full" in declared["uri"] and f"sslrootcert={cluster_postgres.CA_FILE}" in declared["uri"]
    ca_volume = declared["mlflow_volumes"][declared["mlflow_mounts"][cluster_postgres.CA_DIR]]
    assert ca_volume["configMap"]["name"] == cluster_postgres.CA_CONFIG_MAP
    result = _psql(declared["uri"], server)
    assert result.returncode == 0, result.stderr + server["log"].read_text()[-2000:]
    assert result.stdout.strip() == "t"


def test_plain_connections_are_refused(declared: dict, server: dict) -> None:
    """Without TLS the declared pg_hba.conf matches no line: the server refuses, whatever the password."""
    result = _psql(declared["uri"], server, sslmode="disable")
    assert result.returncode != 0
    assert "no pg_hba.conf entry" in result.stderr and "no encryption" in result.stderr, result.stderr


def test_a_server_the_ca_did_not_sign_is_refused(declared: dict, server: dict) -> None:
    """verify-full checks the chain: with another CA's certificate as sslrootcert the client refuses the server."""
    other = server["root"] / "other"
    other.mkdir()
    certificates.make(other, declared["dns_names"], "other")
    result = _psql(declared["uri"], server, ca=other / "other-ca.crt")
    assert result.returncode != 0
    assert "certificate verify failed" in result.stderr, result.stderr
