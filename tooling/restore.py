"""Restore a store from its backup, in the cluster: the store's backup CronJob run once as a Job in restore mode.

    python -m tooling.restore kfp-mysql [--key 20260101T031700Z.sql.gz] [--context CTX] [--dry-run]
    python -m tooling.restore postgres  [--key 20260101T031700Z.dump]
    python -m tooling.restore minio

The Job is the CronJob's own pod (read from the cluster with kubectl: the same images, service account,
network flows and restricted security) with ``BACKUP_MODE=restore`` on every container and the order of
its two containers swapped: the copy container downloads the newest dump under the store's prefix (or
``--key``) into the scratch folder first, then the database container loads it (``mysql`` over TLS;
``pg_restore --clean --if-exists --single-transaction``). MinIO's: the mirror's volume synced back into
its buckets. ``--dry-run`` prints the Job instead of creating it. Stop the store's writers first (KFP's
API server, MLflow) so that nothing writes while it is restored.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from typing import Any

from infra import backups

RESTORE_ENV = "BACKUP_MODE"


def _with_env(container: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    env = [e for e in container.get("env", []) if e["name"] not in extra]
    return {**container, "env": [*env, *({"name": k, "value": v} for k, v in extra.items())]}


def restore_job(cron_job: dict[str, Any], name: str, key: str = "") -> dict[str, Any]:
    """The Job that restores what ``cron_job`` backs up: its pod in restore mode, the copy before the load."""
    template = copy.deepcopy(cron_job["spec"]["jobTemplate"])
    spec = template["spec"]
    pod = spec["template"]["spec"]
    extra = {RESTORE_ENV: "restore", **({"BACKUP_KEY": key} if key else {})}
    init, main = pod.get("initContainers", []), pod["containers"]
    if init:
        # Backup: dump (init) then copy; restore: copy (download) first, then load.
        init, main = main, init
        pod["initContainers"] = [_with_env(c, extra) for c in init]
    pod["containers"] = [_with_env(c, extra) for c in main]
    # One try: a failed restore is looked at, not repeated over a half-restored store.
    spec["backoffLimit"] = 0
    metadata = cron_job["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": metadata["namespace"], "labels": dict(template.get("metadata", {}).get("labels", {}))},
        "spec": spec,
    }


def _kubectl(context: str, *args: str, stdin: str | None = None) -> str:
    command = ["kubectl", *([f"--context={context}"] if context else []), *args]
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"error: {' '.join(command[:4])} ...: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling.restore", description=__doc__.splitlines()[0])
    stores = {store.name: store for store in backups.STORES}
    parser.add_argument("store", choices=sorted(stores), help="the store to restore")
    parser.add_argument("--key", default="", help="the dump's name under backups/<store>/ (default: the newest)")
    parser.add_argument("--context", default="", help="kubectl context (default: the current one)")
    parser.add_argument("--timeout", default="1h", help="how long to wait for the restore (kubectl wait's --timeout)")
    parser.add_argument("--dry-run", action="store_true", help="print the restore Job, create nothing")
    options = parser.parse_args(argv)
    store = stores[options.store]
    if options.key and store not in backups.DUMPED:
        parser.error(f"--key: {store.name} is restored from its mirror's volume, which has no dumps to choose from; drop --key")
    if "/" in options.key:
        parser.error(f"--key {options.key!r}: give the dump's name under {store.prefix} (no slash), as `aws s3 ls` lists it")
    cron_job = json.loads(_kubectl(options.context, "get", "cronjob", store.job, "-n", store.namespace, "-o", "json"))
    job = restore_job(cron_job, f"{store.name}-restore-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}", options.key)
    if options.dry_run:
        print(json.dumps(job, indent=2))
        return 0
    _kubectl(options.context, "create", "-f", "-", stdin=json.dumps(job))
    where = ["-n", store.namespace]
    print(f"job/{job['metadata']['name']} created in {store.namespace}; waiting for it (--timeout {options.timeout})")
    waited = subprocess.run(["kubectl", *([f"--context={options.context}"] if options.context else []), "wait", "--for=condition=complete",
                             f"--timeout={options.timeout}", f"job/{job['metadata']['name']}", *where], check=False)
    print(_kubectl(options.context, "logs", f"job/{job['metadata']['name']}", "--all-containers", *where), end="")
    return waited.returncode


if __name__ == "__main__":
    sys.exit(main())
