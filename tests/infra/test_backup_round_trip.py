"""The backups' real round trip, with the CronJobs' own containers: write data to a real store, run the backup pod's
containers (their declared command and environment), lose the data, run the restore Job `python -m tooling.restore`
makes from the same CronJob, and compare.

Real here: PostgreSQL 15 started with the declared flags and pg_hba.conf (tests/infra/test_database_tls.py), MariaDB
10.11 with KFP's MySQL's declared TLS flags (scripts/check_kfp_mysql_tls.py), Debian's clients (mysqldump, pg_dump),
the AWS CLI, and moto's S3 server in place of S3 and of MinIO. Only what cannot exist here is mapped: mount paths to
temporary folders, the database's port to the local one (Postgres: libpq's PGHOSTADDR; MySQL: the service name in the
container's own /etc/hosts, so both still check the server's certificate against its name), the S3 endpoint to
moto's and IRSA's credentials to moto's test keys.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import backups
from pipelines.mlflow_server import free_port
from tests import certificates
from tests.infra.test_database_tls import BINDIR, declared, server  # noqa: F401 (the Postgres server fixtures)
from tooling import offline, render
from tooling.restore import restore_job

ROOT = Path(__file__).resolve().parents[2]
ML_PYTHON = ROOT / ".venv-ml" / "bin" / "python"
REQUIRE = "MLPLATFORM_REQUIRE_UPSTREAM"
TOOLS = ("mariadbd", "mariadb-install-db", "mysqldump", "mysql", "gzip", "aws", "openssl", "unshare", "runuser")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None] + (["PostgreSQL 15+ (postgres, psql)"] if BINDIR is None else []) + (
    [".venv-ml (moto's server)"] if not ML_PYTHON.exists() else []) + (["../shared/upstream"] if render.upstream_root() is None else [])
pytestmark = pytest.mark.skipif(bool(MISSING) and not os.environ.get(REQUIRE),
                                reason=f"needs {', '.join(MISSING)} (make backup-tools installs the packages)")
# moto's default credentials stand in for IRSA's; its S3 accepts SSE-KMS and reports the key back.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    """Where CI must run these (MLPLATFORM_REQUIRE_UPSTREAM), a missing tool fails them."""
    if MISSING:
        pytest.fail(f"{REQUIRE} is set and these are missing: {', '.join(MISSING)}; run `make backup-tools`")


@pytest.fixture(scope="module")
def runs() -> dict[str, offline.OfflineRun]:
    """The dev stack (S3, in-cluster Postgres) and the local one (MinIO)."""
    return {stack: offline.run(stack) for stack in ("dev", "local")}


def _cron_job(run: offline.OfflineRun, store: backups.Store) -> dict:
    (found,) = [r.inputs for r in run.of_type("kubernetes:batch/v1:CronJob") if r.inputs["metadata"]["name"] == store.job]
    assert found["metadata"]["namespace"] == store.namespace
    return found


def _secrets(run: offline.OfflineRun) -> dict[tuple[str, str], dict[str, str]]:
    return {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs.get("stringData", {})
            for r in run.of_type("kubernetes:core/v1:Secret")}


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """moto's S3 server; yields its endpoint."""
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="moto-")) / "moto.log"
    process = subprocess.Popen([str(ML_PYTHON), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _aws(endpoint, "s3api", "list-buckets", check=False).returncode != 0:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)


def _aws(endpoint: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": tempfile.gettempdir(), "AWS_DEFAULT_REGION": "us-east-1", **S3_CREDENTIALS}
    result = subprocess.run(["aws", "--endpoint-url", endpoint, *args], capture_output=True, text=True, env=env, timeout=120)
    assert not check or result.returncode == 0, result.stderr
    return result


def run_pod(pod: dict, namespace: str, secrets: dict, mounts: dict[str, Path], extra: dict[str, str],
            hosts: Path | None = None) -> None:
    """Run a pod's containers here, init containers first, each with its declared command and environment: secrets
    resolved, mount paths mapped to ``mounts``, then ``extra`` (what cannot exist here) added."""
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        env = {"PATH": f"{BINDIR}:{os.environ['PATH']}"}
        for item in container.get("env", []):
            if "valueFrom" in item:
                ref = item["valueFrom"]["secretKeyRef"]
                value = secrets[namespace, ref["name"]][ref["key"]]
            else:
                value = item["value"]
            # A value that is a mounted path, or a path under one (once: /backup must not become /tmp/... then /tmp/.../...).
            for path in sorted(mounts, key=len, reverse=True):
                if value == path or value.startswith(f"{path}/"):
                    value = str(mounts[path]) + value[len(path):]
                    break
            env[item["name"]] = value
        for mount in container["volumeMounts"]:
            assert mount["mountPath"] in mounts, f"{container['name']} mounts {mount['mountPath']}, which this test does not map"
        command = list(container["command"])
        if hosts is not None:
            # The service's name at 127.0.0.1, in this command's own /etc/hosts (a mount namespace).
            command = ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts), *command]
        result = subprocess.run(command, env={**env, **extra}, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{container['name']} ({container['image']}) failed:\n{result.stdout}\n{result.stderr}"


def _folders(pod: dict, root: Path) -> dict[str, Path]:
    """A fresh local folder for every mount path of the pod's containers."""
    paths = {m["mountPath"] for c in [*pod.get("initContainers", []), *pod["containers"]] for m in c["volumeMounts"]}
    folders = {}
    for index, path in enumerate(sorted(paths)):
        folders[path] = root / f"mount{index}"
        folders[path].mkdir(parents=True)
        os.chmod(folders[path], 0o777)
    return folders


def _backup_and_restore(run: offline.OfflineRun, store: backups.Store, s3: str, lose, snapshot, extra: dict[str, str],
                        prepare=None, hosts: Path | None = None) -> tuple[object, object, dict]:
    """Back ``store`` up with its CronJob's pod, ``lose`` the data, restore with the restore Job; (before, after, head)."""
    cron_job = _cron_job(run, store)
    pod = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    bucket = next(e["value"] for c in pod["containers"] for e in c["env"] if e["name"] in ("BACKUP_BUCKET",))
    _aws(s3, "s3api", "create-bucket", "--bucket", bucket, check=False)
    before = snapshot()
    with tempfile.TemporaryDirectory(prefix=f"{store.name}-backup-") as tmp:
        folders = _folders(pod, Path(tmp))
        if prepare:
            prepare(folders)
        run_pod(pod, store.namespace, _secrets(run), folders, extra, hosts)
    listed = _aws(s3, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", store.prefix, "--query", "Contents[].Key", "--output", "text")
    (key,) = listed.stdout.split()
    head = json.loads(_aws(s3, "s3api", "head-object", "--bucket", bucket, "--key", key).stdout)
    lose()
    assert snapshot() != before, "losing the data changed nothing: the comparison would prove nothing"
    job = restore_job(cron_job, f"{store.name}-restore-test")
    restore_pod = job["spec"]["template"]["spec"]
    with tempfile.TemporaryDirectory(prefix=f"{store.name}-restore-") as tmp:
        folders = _folders(restore_pod, Path(tmp))
        if prepare:
            prepare(folders)
        run_pod(restore_pod, store.namespace, _secrets(run), folders, extra, hosts)
    return before, snapshot(), head


def _psql(postgres: dict, password: str, database: str, sql: str) -> str:
    result = subprocess.run([str(BINDIR / "psql"), f"host=127.0.0.1 port={postgres['port']} user=mlflow dbname={database} sslmode=require",
                             "-v", "ON_ERROR_STOP=1", "-Atc", sql], capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ["PATH"], "PGPASSWORD": password})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_postgres_round_trip(runs: dict[str, offline.OfflineRun], declared: dict, server: dict, s3: str) -> None:  # noqa: F811
    """The in-cluster Postgres's backup (pg_dump over verify-full TLS, copied to S3 with SSE-KMS) restores what was lost."""
    run, password = runs["dev"], declared["password"]
    _psql(server, password, "mlflow", "CREATE TABLE runs (id serial PRIMARY KEY, name text, metric double precision, blob bytea);"
          "INSERT INTO runs (name, metric, blob) VALUES ('ünïcode', 0.91, '\\x00ff'), ('null metric', NULL, NULL);"
          "CREATE INDEX runs_name ON runs (name); CREATE VIEW good AS SELECT * FROM runs WHERE metric > 0.5;")

    def snapshot() -> str:
        tables = _psql(server, password, "mlflow", "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
                       "WHERE table_schema = 'public'")
        rows = _psql(server, password, "mlflow", "SELECT * FROM runs ORDER BY id") if "runs" in tables else ""
        return tables + rows

    def lose() -> None:
        # As a lost volume comes back: the image's entrypoint makes an empty database.
        _psql(server, password, "postgres", "DROP DATABASE mlflow WITH (FORCE)")
        _psql(server, password, "postgres", "CREATE DATABASE mlflow")

    def prepare(folders: dict[str, Path]) -> None:
        shutil.copy(server["ca"], folders[os.path.dirname(_env(runs["dev"], backups.POSTGRES)["PGSSLROOTCERT"])] / "ca.crt")

    extra = {"PGHOSTADDR": "127.0.0.1", "PGPORT": str(server["port"]), "S3_ENDPOINT_URL": s3, **S3_CREDENTIALS}
    before, after, head = _backup_and_restore(run, backups.POSTGRES, s3, lose, snapshot, extra, prepare)
    assert "runs" in str(before) and after == before
    env = _env(run, backups.POSTGRES)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", env["BACKUP_KMS_KEY_ARN"])


def _env(run: offline.OfflineRun, store: backups.Store) -> dict[str, str]:
    pod = _cron_job(run, store)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return {e["name"]: e.get("value", "") for c in [*pod.get("initContainers", []), *pod["containers"]] for e in c["env"]}


@pytest.fixture(scope="module")
def mysql(runs: dict[str, offline.OfflineRun]) -> Iterator[dict]:
    """MariaDB with KFP's MySQL's declared TLS flags and root password; yields its port, CA, socket and /etc/hosts."""
    spec = importlib.util.spec_from_file_location("check_kfp_mysql_tls", ROOT / "scripts" / "check_kfp_mysql_tls.py")
    assert spec and spec.loader
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    declared_mysql = check.declared("dev")
    password = _secrets(runs["dev"])["kubeflow", "mysql-secret"]["password"]
    assert password == declared_mysql["password"]
    work = Path(tempfile.mkdtemp(prefix="kfp-mysql-backup-"))
    tls, ca = work / "tls", work / "ca"
    for folder in (tls, ca):
        folder.mkdir()
    certificates.make(tls, declared_mysql["dns_names"], "tls")
    shutil.copy(tls / "tls-ca.crt", ca / declared_mysql["ca_file"])
    for name in ("tls.crt", "tls.key"):
        os.chmod(tls / name, 0o640)
        shutil.chown(tls / name, "root", "mysql")
    hosts = work / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {declared_mysql['host']}\n")
    port = str(free_port())
    args = check.server_args(declared_mysql["server_args"], {declared_mysql["tls_dir"]: tls}, work, port)
    assert "--require-secure-transport=ON" in args
    try:
        with check.mariadb(args, work, password):
            yield {"port": port, "ca": ca / declared_mysql["ca_file"], "socket": work / "mysqld.sock", "hosts": hosts, "password": password}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _mysql(db: dict, sql: str) -> str:
    result = subprocess.run(["mysql", "--no-defaults", f"--socket={db['socket']}", "-uroot", f"-p{db['password']}", "-N", "-B", "-e", sql],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kfp_mysql_round_trip(runs: dict[str, offline.OfflineRun], mysql: dict, s3: str) -> None:
    """KFP's MySQL backup (mysqldump --single-transaction of the pipelines and MLMD databases, TLS checked against the CA
    and the service's name, copied to S3 with SSE-KMS) restores both databases once they are dropped."""
    run = runs["dev"]
    databases = _env(run, backups.KFP_MYSQL)["MYSQL_DATABASES"].split()
    assert databases == ["mlpipeline", "metadb"]
    for database in databases:
        _mysql(mysql, f"CREATE DATABASE {database}; CREATE TABLE {database}.t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64), "
                      f"payload BLOB, at DATETIME) ENGINE=InnoDB; INSERT INTO {database}.t (name, payload, at) VALUES "
                      f"('ünïcode {database}', X'00FF', '2026-01-01 03:17:00'), (NULL, NULL, NULL);")

    def snapshot() -> str:
        present = _mysql(mysql, "SHOW DATABASES").split()
        return "".join(f"{d}:{_mysql(mysql, f'SELECT id, name, HEX(payload), at FROM {d}.t ORDER BY id')}" for d in databases if d in present)

    def lose() -> None:
        _mysql(mysql, "; ".join(f"DROP DATABASE {d}" for d in databases))

    def prepare(folders: dict[str, Path]) -> None:
        shutil.copy(mysql["ca"], folders[os.path.dirname(_env(run, backups.KFP_MYSQL)["MYSQL_CA_FILE"])] / mysql["ca"].name)

    extra = {"MYSQL_PORT": mysql["port"], "S3_ENDPOINT_URL": s3, **S3_CREDENTIALS}
    before, after, head = _backup_and_restore(run, backups.KFP_MYSQL, s3, lose, snapshot, extra, prepare, mysql["hosts"])
    assert "mlpipeline:" in str(before) and "metadb:" in str(before) and after == before
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", _env(run, backups.KFP_MYSQL)["BACKUP_KMS_KEY_ARN"])


def test_minio_round_trip(runs: dict[str, offline.OfflineRun], s3: str) -> None:
    """The local stack's MinIO mirror copies every bucket to its volume and puts deleted objects back on restore."""
    run = runs["local"]
    cron_job = _cron_job(run, backups.MINIO)
    pod = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    buckets = _env(run, backups.MINIO)["MINIO_BUCKETS"].split()
    assert buckets == ["data", "artifacts"]
    with tempfile.TemporaryDirectory(prefix="minio-") as tmp:
        source = Path(tmp) / "objects"
        (source / "fraud").mkdir(parents=True)
        (source / "fraud" / "latest.csv").write_text("amount,label\n1.5,0\n")
        (source / "model.pkl").write_bytes(bytes(range(256)))
        for name in buckets:
            _aws(s3, "s3api", "create-bucket", "--bucket", name)
            _aws(s3, "s3", "cp", "--recursive", "--no-progress", str(source), f"s3://{name}/")

        def snapshot() -> dict[str, str]:
            return {name: _aws(s3, "s3api", "list-objects-v2", "--bucket", name, "--query", "Contents[].[Key,ETag]", "--output", "text").stdout
                    for name in buckets}

        before = snapshot()
        mirror = Path(tmp) / "mirror"
        extra = {"S3_ENDPOINT_URL": s3}
        secrets = _secrets(run)
        mounts = {**_folders(pod, Path(tmp) / "pod"), backups.SCRATCH_DIR: mirror}
        mirror.mkdir()
        run_pod(pod, backups.MINIO.namespace, secrets, mounts, extra)
        for name in buckets:
            _aws(s3, "s3", "rm", "--recursive", f"s3://{name}/")
        assert snapshot() != before
        restore = restore_job(cron_job, "minio-restore-test")["spec"]["template"]["spec"]
        run_pod(restore, backups.MINIO.namespace, secrets, {**_folders(restore, Path(tmp) / "restore"), backups.SCRATCH_DIR: mirror}, extra)
        assert snapshot() == before and "latest.csv" in str(before)
