"""The backups' objects under mocks (infra/backups.py, infra/components/backups.py) and the restore tool's Job and CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from infra import backups, versions
from infra.pod_security import restricted_violations
from tooling import offline
from tooling.restore import restore_job

ROOT = Path(__file__).resolve().parents[2]


def _cron_jobs(run: offline.OfflineRun) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in run.of_type("kubernetes:batch/v1:CronJob")
            if r.inputs["metadata"]["name"].endswith("-backup")}


def _pod(cron_job: dict) -> dict:
    return cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _containers(cron_job: dict) -> list[dict]:
    pod = _pod(cron_job)
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_every_in_cluster_store_is_backed_up(stack_run: offline.OfflineRun) -> None:
    """KFP's MySQL on every stack, the in-cluster Postgres and MinIO where the stack runs them, on the environment's schedule."""
    settings = stack_run.settings
    expected = {"kfp-mysql-backup"} | ({"postgres-backup"} if settings.database.kind == "in-cluster" else set()) | (
        {"minio-backup"} if settings.object_store == "minio" else set())
    jobs = _cron_jobs(stack_run)
    assert set(jobs) == expected, stack_run.stack
    for name, job in jobs.items():
        assert job["spec"]["schedule"] == backups.SCHEDULES[settings.environment], name
        assert job["spec"]["concurrencyPolicy"] == "Forbid", name


def test_backup_pods_are_restricted_and_bounded(stack_run: offline.OfflineRun) -> None:
    """Every backup pod passes the restricted profile, has a read-only root filesystem with emptyDir scratch, its own
    service account, and requests and limits on every container."""
    for name, job in _cron_jobs(stack_run).items():
        pod = _pod(job)
        assert restricted_violations(pod) == [], name
        assert pod["serviceAccountName"] == name and pod["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in _containers(job):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert set(container["resources"]) == {"requests", "limits"}, (name, container["name"])
            written = [m for m in container["volumeMounts"] if not m.get("readOnly")]
            assert written and all("emptyDir" in volumes[m["name"]] or name == "minio-backup" for m in written), (name, written)


def test_dumps_run_the_image_their_store_runs(stack_run: offline.OfflineRun) -> None:
    """A dump runs its server's own image (client and server alike); the copy runs the pinned aws-cli."""
    jobs = _cron_jobs(stack_run)
    images = {name: {c["name"]: c["image"] for c in _containers(job)} for name, job in jobs.items()}
    assert images["kfp-mysql-backup"] == {"dump": versions.IMAGES["mysql"], "copy": versions.IMAGES["aws-cli"]}
    if "postgres-backup" in jobs:
        (statefulset,) = [r.inputs for r in stack_run.of_type("kubernetes:apps/v1:StatefulSet") if r.inputs["metadata"]["name"] == "postgres"]
        server = statefulset["spec"]["template"]["spec"]["containers"][0]["image"]
        assert images["postgres-backup"] == {"dump": server, "copy": versions.IMAGES["aws-cli"]}


def test_dumps_are_encrypted_with_the_platform_key(aws_run: offline.OfflineRun) -> None:
    """On AWS every copy names SSE-KMS with the key that encrypts the artifacts bucket."""
    (encryption,) = [r.inputs for r in aws_run.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
                     if r.name.endswith("-artifacts")]
    key = encryption["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    for name, job in _cron_jobs(aws_run).items():
        (copy,) = [c for c in _containers(job) if c["name"] == "copy"]
        env = {e["name"]: e.get("value") for e in copy["env"]}
        assert env["BACKUP_KMS_KEY_ARN"] == key, name
        assert "--sse aws:kms --sse-kms-key-id \"$BACKUP_KMS_KEY_ARN\"" in " ".join(copy["command"])


def test_backups_expire_per_environment(aws_run: offline.OfflineRun) -> None:
    """The artifacts bucket expires backups/ after the environment's retention; the data bucket has no such rule."""
    rules = {r.name: r.inputs["rules"] for r in aws_run.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")}
    prefix = aws_run.settings.name
    (expiry,) = [rule for rule in rules[f"{prefix}-artifacts"] if rule["filter"]["prefix"] == backups.PREFIX]
    assert expiry["expiration"]["days"] == backups.RETENTION_DAYS[aws_run.settings.environment] and expiry["status"] == "Enabled"
    assert not [rule for rule in rules[f"{prefix}-data"] if rule["filter"]["prefix"] == backups.PREFIX]


def test_each_dump_job_has_its_own_role_under_its_own_prefix(aws_run: offline.OfflineRun) -> None:
    """A dump job's IRSA role trusts only its service account and may put and get under its own prefix only, never delete."""
    roles = {r.name: r.inputs for r in aws_run.of_type("aws:iam/role:Role")}
    policies = {r.name: json.loads(r.inputs["policy"]) for r in aws_run.of_type("aws:iam/rolePolicy:RolePolicy")}
    jobs = _cron_jobs(aws_run)
    for store in backups.DUMPED:
        if store.job not in jobs:
            continue
        name = f"{aws_run.settings.name}-{store.job}"
        trust = json.loads(roles[name]["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
        assert [v for k, v in trust.items() if k.endswith(":sub")] == [f"system:serviceaccount:{store.namespace}:{store.job}"]
        objects = [s for s in policies[name]["Statement"] if s["Action"] != "s3:ListBucket" and s["Sid"] != "UseBucketKey"]
        assert [s["Resource"].split(":::", 1)[1].split("/", 1)[1] for s in objects] == [f"{store.prefix}*"], name
        actions = {a for s in policies[name]["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert "s3:PutObject" in actions and not [a for a in actions if "Delete" in a], (name, actions)
    assert f"{aws_run.settings.name}-postgres-backup" in roles if "postgres-backup" in jobs else f"{aws_run.settings.name}-postgres-backup" not in roles


def test_restore_job_runs_the_copy_first_in_restore_mode(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The restore Job is the CronJob's pod with the copy (download) before the database container, both in restore mode."""
    cron_job = _cron_jobs(stack_runs["dev"])["postgres-backup"]
    job = restore_job(cron_job, "postgres-restore-x", key="20260101T031700Z.dump")
    pod = job["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["copy"] and [c["name"] for c in pod["containers"]] == ["dump"]
    for container in [*pod["initContainers"], *pod["containers"]]:
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["BACKUP_MODE"] == "restore" and env["BACKUP_KEY"] == "20260101T031700Z.dump", container["name"]
    assert job["metadata"]["namespace"] == "postgres" and job["spec"]["backoffLimit"] == 0
    assert pod["serviceAccountName"] == cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"]
    assert "initContainers" in _pod(cron_job) and _pod(cron_job)["initContainers"][0]["name"] == "dump", "the CronJob was changed"


def _restore_cli(tmp_path: Path, cron_job: dict, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m tooling.restore` with a kubectl that answers `get cronjob` with ``cron_job``."""
    (tmp_path / "cronjob.json").write_text(json.dumps(cron_job))
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(f'#!/bin/sh\ncase "$*" in *"get cronjob"*) cat {tmp_path / "cronjob.json"};; *) exit 3;; esac\n')
    kubectl.chmod(0o755)
    return subprocess.run([sys.executable, "-m", "tooling.restore", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})


def test_restore_cli_prints_the_job_and_refuses_bad_keys(tmp_path: Path, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """--dry-run prints the restore Job of the named store; a key with a path, or a key for MinIO's mirror, is one line of error."""
    cron_job = _cron_jobs(stack_runs["dev"])["kfp-mysql-backup"]
    printed = _restore_cli(tmp_path, cron_job, "kfp-mysql", "--key", "20260101T031700Z.sql.gz", "--dry-run")
    assert printed.returncode == 0, printed.stderr
    job = json.loads(printed.stdout)
    assert job["kind"] == "Job" and job["metadata"]["name"].startswith("kfp-mysql-restore-")
    assert job["spec"]["template"]["spec"]["initContainers"][0]["name"] == "copy"
    for args, message in ((("kfp-mysql", "--key", "backups/kfp-mysql/x.sql.gz"), "no slash"), (("minio", "--key", "x"), "drop --key")):
        refused = _restore_cli(tmp_path, cron_job, *args)
        assert refused.returncode == 2 and message in refused.stderr.strip().splitlines()[-1], refused.stderr


def test_scripts_are_valid_bash() -> None:
    """Every script a backup container runs parses with bash -n."""
    for script in (backups.MYSQL_SCRIPT, backups.POSTGRES_SCRIPT, backups.COPY_SCRIPT, backups.MINIO_SCRIPT):
        result = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
