"""Run what the program declares for KFP's MySQL: the server with its TLS flags, and its three clients
connecting the way they do in the cluster. `make check-kfp-mysql-tls` (installs what it needs).

    .venv-infra/bin/python scripts/check_kfp_mysql_tls.py [--stack staging]

What is declared comes from the stack's final objects: the program under mocks, KFP's kustomize
rendered from ../shared/upstream through the program's overlay. What runs:

- the server: MariaDB 10.11 from Debian (MySQL 8.4 is not packaged for this machine) with the
  mysql Deployment's args; the two that only MySQL 8.4 knows are left out (its
  ``mysql_native_password`` switches; MariaDB has that plugin on) and ``--disable-log-bin``
  (MariaDB's binary log is off unless asked for). It listens on the declared port.
- the API server and the cache server: go-sql-driver/mysql (Debian's) with KFP's DSN and the declared
  extra parameters (``DBCONFIG_MYSQLCONFIG_EXTRAPARAMS``, ``--db_extra_params``) and ``SSL_CERT_DIR``.
- MLMD: ml-metadata's own C++ MySQL source (the Python wheel of 1.15.0, whose MySQL connection code
  is 1.14.0's, the server KFP runs), with the declared config file parsed by its real schema.

Only what cannot exist here is mapped: the mount paths to a temporary folder, and the service's
name ``mysql`` to 127.0.0.1 (an /etc/hosts of the clients' own, in a mount namespace), so every
client still checks the certificate against the name. The certificates are made with openssl the
way pulumi-tls makes them (the program's are placeholders under mocks). Each negative case must fail:
a plain connection from Go and from MLMD, a Go client without the CA, and one that reaches the server
under a name the certificate does not carry; a control shows that the
plain connection was refused for its transport. One case shows why MLMD's config does not ask for
verification: its client then refuses even the right certificate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.components import kubeflow_pipelines as kfp  # noqa: E402
from tests import certificates  # noqa: E402
from tooling import (
    external_secret,  # noqa: E402
    offline,  # noqa: E402
    render,  # noqa: E402
)

MLMD_PYTHON = ROOT / ".venv-mlmd" / "bin" / "python"
CLIENT_SOURCE = ROOT / "scripts" / "kfp-mysql-client"
# MySQL 8.4's flags that MariaDB 10.11 does not have (see the module's docstring).
MYSQL_ONLY = ("--authentication-policy=", "--mysql-native-password=", "--disable-log-bin")
MLMD_CLIENT = """
import sys
from google.protobuf import text_format
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

config = text_format.Parse(open(sys.argv[1]).read(), metadata_store_pb2.MetadataStoreServerConfig())
store = metadata_store.MetadataStore(config.connection_config,
                                     enable_upgrade_migration=config.migration_options.enable_upgrade_migration)
print("connected, artifact types:", len(store.get_artifact_types()))
"""


def declared(stack: str) -> dict:
    """The MySQL server's args and mounts, its clients' TLS settings and MLMD's config file, as the stack applies them."""
    upstream = render.upstream_root()
    if upstream is None:
        raise SystemExit("error: no upstream sources (../shared/upstream); run `make upstream`")
    run = offline.run(stack)
    kubeflow = [o.obj for o in render.stack_objects(run, upstream) if render.namespace_of(o.obj) == "kubeflow"]
    objects = {(o["kind"], o["metadata"]["name"]): o for o in kubeflow}

    def container(deployment: str) -> dict:
        pod = objects["Deployment", deployment]["spec"]["template"]["spec"]
        name = kfp.MYSQL_CLIENTS.get(deployment, deployment)
        (found,) = [c for c in pod["containers"] if c["name"] == name]
        return found

    install = objects["ConfigMap", "pipeline-install-config"]["data"]
    (request,) = [r.inputs for r in run.of_type("tls:index/certRequest:CertRequest") if kfp.MYSQL_SERVICE in r.inputs["dnsNames"]]
    api_env = {e["name"]: e.get("value") for e in container("ml-pipeline")["env"]}
    cache = container("cache-server")
    (cache_extra,) = [a.removeprefix("--db_extra_params=") for a in cache["args"] if a.startswith("--db_extra_params=")]
    mysql = container("mysql")
    return {
        "host": install["mysqlHost"], "port": install["mysqlPort"],
        # An AWS stack's Secrets are synced by External Secrets from Secrets Manager: rendered with stand-in values.
        "password": external_secret.secret_data(kubeflow, kfp.MYSQL_SECRET)["password"],
        "server_args": mysql["args"],
        "tls_dir": next(m["mountPath"] for m in mysql["volumeMounts"] if m["name"] == "tls"),
        "dns_names": request["dnsNames"],
        "ca_dir": posixpath.dirname(kfp.MYSQL_CA_FILE), "ca_file": posixpath.basename(kfp.MYSQL_CA_FILE),
        "go_clients": {
            "ml-pipeline (API server)": (api_env["DBCONFIG_MYSQLCONFIG_EXTRAPARAMS"], api_env["SSL_CERT_DIR"]),
            "cache-server": (cache_extra, {e["name"]: e.get("value") for e in cache["env"]}["SSL_CERT_DIR"]),
        },
        "mlmd_config": external_secret.secret_data(kubeflow, kfp.MLMD_CONFIG_SECRET)[kfp.MLMD_CONFIG_FILE],
    }


def mapped(text: str, paths: dict[str, Path]) -> str:
    for path, local in paths.items():
        text = text.replace(path, str(local))
    return text


def server_args(args: list[str], paths: dict[str, Path], work: Path, port: str) -> list[str]:
    """The declared args for mariadbd: paths mapped, MySQL-only flags left out, and what a local server needs."""
    kept, values = [], iter(args)
    for arg in values:
        if arg == "--datadir":
            next(values)
        elif not arg.startswith(MYSQL_ONLY):
            kept.append(mapped(arg, paths))
    return ["--no-defaults", f"--datadir={work / 'data'}", f"--socket={work / 'mysqld.sock'}", f"--pid-file={work / 'mysqld.pid'}",
            "--user=mysql", "--bind-address=127.0.0.1", f"--port={port}", *kept]


@contextlib.contextmanager
def mariadb(args: list[str], work: Path, password: str) -> Iterator[None]:
    """A MariaDB server with ``args`` whose root takes ``password`` from anywhere (as the mysql image's root)."""
    shutil.chown(work, "mysql", "mysql")
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={work / 'data'}", "--user=mysql",
                    "--auth-root-authentication-method=normal", "--skip-test-db"], check=True, capture_output=True)
    with (work / "mysqld.log").open("w") as log:
        process = subprocess.Popen(["mariadbd", *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(300):
            if (work / "mysqld.sock").exists():
                break
            if process.poll() is not None:
                raise SystemExit(f"error: mariadbd exited: {(work / 'mysqld.log').read_text()[-2000:]}")
            time.sleep(0.1)
        # The local socket counts as secure transport, as in the image's own init. The password as an SQL string literal.
        literal = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
        subprocess.run(["mariadb", "--no-defaults", f"--socket={work / 'mysqld.sock'}", "-uroot", "-e",
                        f"ALTER USER root@localhost IDENTIFIED BY {literal}; CREATE USER root@'%' IDENTIFIED BY {literal}; "
                        "GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;"], check=True, capture_output=True)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def as_in_the_cluster(command: list[str], hosts: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``command`` in a mount namespace whose /etc/hosts names the service ``mysql`` 127.0.0.1."""
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return subprocess.run(["unshare", "--mount", "sh", "-c", script, str(hosts), *command],
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"], **(env or {})}, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="staging")
    options = parser.parse_args()
    for tool in ("mariadbd", "mariadb-install-db", "go", "openssl", "unshare"):
        if shutil.which(tool) is None:
            raise SystemExit(f"error: {tool} is missing; run `make check-kfp-mysql-tls`, which installs it")
    if not MLMD_PYTHON.exists():
        raise SystemExit("error: .venv-mlmd is missing; run `make check-kfp-mysql-tls`, which makes it")
    spec = declared(options.stack)
    failures = []

    def expect(what: str, result: subprocess.CompletedProcess[str], ok: bool) -> None:
        line = (result.stdout.strip() or result.stderr.strip()).splitlines()[-1:] or ["(no output)"]
        passed = (result.returncode == 0) == ok
        print(f"{'PASS' if passed else 'FAIL'}  {what}: {line[0][:200]}")
        if not passed:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="kfp-mysql-") as tmp:
        work = Path(tmp)
        tls, ca, other = work / "tls", work / "ca", work / "other-ca"
        for folder in (tls, ca, other):
            folder.mkdir()
        certificates.make(tls, spec["dns_names"], "tls")
        certificates.make(other, spec["dns_names"], "other")
        shutil.copy(tls / "tls-ca.crt", ca / spec["ca_file"])
        for name in ("tls.crt", "tls.key"):
            os.chmod(tls / name, 0o640)
            shutil.chown(tls / name, "root", "mysql")  # the Secret's mode 0640 under fsGroup 999
        hosts = work / "hosts"
        hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {spec['host']}\n127.0.0.1 mysql-elsewhere\n")
        client = work / "kfp-mysql-client"
        subprocess.run(["go", "build", "-o", str(client), "main.go"], cwd=CLIENT_SOURCE, check=True,
                       env={**os.environ, "GOPATH": "/usr/share/gocode", "GO111MODULE": "off", "GOCACHE": str(work / "gocache")})
        paths = {spec["tls_dir"]: tls, spec["ca_dir"]: ca}
        args = server_args(spec["server_args"], paths, work, spec["port"])
        print("mariadbd " + " ".join(a for a in args if a.startswith(("--require", "--tls", "--ssl"))))
        with mariadb(args, work, spec["password"]):
            def go(host: str, extra: str) -> list[str]:
                return [str(client), kfp.MYSQL_USER, spec["password"], host, spec["port"], extra]

            for name, (extra, cert_dir) in spec["go_clients"].items():
                expect(f"{name} with tls={json.loads(extra)['tls']} and SSL_CERT_DIR={cert_dir}",
                       as_in_the_cluster(go(spec["host"], extra), hosts, {"SSL_CERT_DIR": mapped(cert_dir, paths)}), ok=True)
            # The negative cases, each as the API server connects but for the one thing changed.
            extra, cert_dir = spec["go_clients"]["ml-pipeline (API server)"]
            plain = go(spec["host"], '{"tls": "false"}')
            expect("a plain connection (tls=false) is refused", as_in_the_cluster(plain, hosts), ok=False)
            expect("a Go client without the CA is refused",
                   as_in_the_cluster(go(spec["host"], extra), hosts, {"SSL_CERT_DIR": str(other)}), ok=False)
            expect("a Go client that reaches the server under a name its certificate lacks is refused",
                   as_in_the_cluster(go("mysql-elsewhere", extra), hosts, {"SSL_CERT_DIR": mapped(cert_dir, paths)}), ok=False)
            config, declared_config = work / "config.pbtxt", mapped(spec["mlmd_config"], paths)
            config.write_text(declared_config)
            mlmd = [str(MLMD_PYTHON), "-c", MLMD_CLIENT, str(config)]
            expect("MLMD with the declared config file", as_in_the_cluster(mlmd, hosts), ok=True)
            config.write_text(re.sub(r"ssl_options \{[^}]*\}", "", declared_config))
            expect("MLMD without ssl_options (a plain connection) is refused", as_in_the_cluster(mlmd, hosts), ok=False)
            # Why the declared file does not ask MLMD to check the certificate: its client refuses every one then.
            config.write_text(declared_config.replace("verify_server_cert: false", "verify_server_cert: true"))
            expect("MLMD 1.14's client asked to verify refuses even the right certificate", as_in_the_cluster(mlmd, hosts), ok=False)
            # The control: the plain connections above were refused for their transport, not their password.
            subprocess.run(["mariadb", "--no-defaults", f"--socket={work / 'mysqld.sock'}", "-uroot", f"-p{spec['password']}", "-e",
                            "SET GLOBAL require_secure_transport = OFF"], check=True, capture_output=True)
            expect("control: the same plain connection once the server allows it", as_in_the_cluster(plain, hosts), ok=True)
    print("all checks passed" if not failures else f"{len(failures)} checks failed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
