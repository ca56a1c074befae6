"""The backup CronJobs of the in-cluster stores (what and why: infra/backups.py).

A database's pod: an init container in the database's own image dumps it to a scratch emptyDir, then the
aws-cli container copies the dump to the artifacts bucket. MinIO's (the local stack): one aws-cli container
mirroring its buckets onto a volume of its own. Every pod restricted (non-root, read-only root filesystem,
nothing added, RuntimeDefault seccomp), bounded, under its own service account (IRSA on AWS).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping

import pulumi
import pulumi_kubernetes as k8s

from infra import backups, database_tls, flows, object_store, versions
from infra.components import cluster_postgres
from infra.components import kubeflow_pipelines as kfp
from infra.components.minio import BUCKETS
from infra.object_store import ObjectStore
from infra.workload_security import restricted_container, restricted_pod

# The database images' user (mysql and postgres are uid 999 in their images); MinIO's mirror runs as the default.
DATABASE_UID = 999
DUMP_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
COPY_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
# A run that has not finished in this time is stopped (and shows as failed).
DEADLINE_SECONDS = 3 * 3600
SCRATCH, TMP = "scratch", "tmp"


def _value(name: str, value: pulumi.Input[str]) -> dict:
    return {"name": name, "value": value}


def _secret(name: str, secret: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _container(name: str, image: str, script: str, env: list[dict], resources: dict, mounts: list[dict]) -> dict:
    """A container that runs ``script`` with bash, its scratch and temporary folders mounted."""
    return restricted_container(
        name, image, resources, command=["bash", "-c", script],
        env=[_value("BACKUP_DIR", backups.SCRATCH_DIR), _value("TMPDIR", backups.TMP_DIR), _value("HOME", backups.TMP_DIR), *env],
        volumeMounts=[{"name": SCRATCH, "mountPath": backups.SCRATCH_DIR}, {"name": TMP, "mountPath": backups.TMP_DIR}, *mounts],
    )


def copy_container(store: backups.Store, bucket: ObjectStore, kms_key_arn: pulumi.Input[str] | None) -> dict:
    """The aws-cli container that copies ``store``'s dump to the artifacts bucket (and back, in a restore)."""
    env = [_value("BACKUP_BUCKET", bucket.artifacts_bucket), _value("BACKUP_PREFIX", store.prefix), _value("AWS_REGION", bucket.region)]
    if bucket.is_minio:
        env += [_value("S3_ENDPOINT_URL", bucket.endpoint_url), *bucket.key_env()]
    elif kms_key_arn is not None:
        env.append(_value("BACKUP_KMS_KEY_ARN", kms_key_arn))
    return _container("copy", versions.IMAGES["aws-cli"], backups.COPY_SCRIPT, env, COPY_RESOURCES, [])


def kfp_mysql_container() -> dict:
    """mysqldump of KFP's pipelines and MLMD databases, over TLS checked against the program's CA."""
    ca_dir = posixpath.dirname(kfp.MYSQL_CA_FILE)
    env = [_value("MYSQL_HOST", kfp.MYSQL_SERVICE), _value("MYSQL_PORT", str(flows.MYSQL_PORT)), _value("MYSQL_USER", kfp.MYSQL_USER),
           _secret("MYSQL_PASSWORD", kfp.MYSQL_SECRET, "password"), _value("MYSQL_CA_FILE", kfp.MYSQL_CA_FILE),
           _value("MYSQL_DATABASES", f"{kfp.PIPELINES_DATABASE} {kfp.MLMD_DATABASE}")]
    return _container("dump", versions.IMAGES["mysql"], backups.MYSQL_SCRIPT, env, DUMP_RESOURCES,
                      [{"name": "ca", "mountPath": ca_dir, "readOnly": True}])


def postgres_container(host: str) -> dict:
    """pg_dump of MLflow's database, verify-full against the program's CA."""
    env = [_value("PGHOST", host), _value("PGPORT", str(flows.POSTGRES_PORT)), _value("PGUSER", cluster_postgres.USERNAME),
           _value("PGDATABASE", cluster_postgres.DATABASE_NAME), _secret("PGPASSWORD", cluster_postgres.CREDENTIALS_SECRET, "password"),
           _value("PGSSLMODE", "verify-full"), _value("PGSSLROOTCERT", database_tls.CA_FILE)]
    return _container("dump", versions.IMAGES["postgres"], backups.POSTGRES_SCRIPT, env, DUMP_RESOURCES,
                      [{"name": "ca", "mountPath": database_tls.CA_DIR, "readOnly": True}])


def minio_container(bucket: ObjectStore) -> dict:
    """The mirror of MinIO's buckets, with MinIO's root keys (its own namespace's Secret)."""
    env = [_value("S3_ENDPOINT_URL", bucket.endpoint_url), _value("AWS_REGION", bucket.region), _value("MINIO_BUCKETS", " ".join(BUCKETS)),
           _secret("AWS_ACCESS_KEY_ID", object_store.MINIO_ROOT_SECRET, object_store.USER_KEY),
           _secret("AWS_SECRET_ACCESS_KEY", object_store.MINIO_ROOT_SECRET, object_store.PASSWORD_KEY)]
    return _container("mirror", versions.IMAGES["aws-cli"], backups.MINIO_SCRIPT, env, COPY_RESOURCES, [])


class StoreBackup(pulumi.ComponentResource):
    """A store's service account and its backup CronJob: ``init`` (if any) then ``main``, on the store's scratch."""

    def __init__(self, store: backups.Store, schedule: str, init: dict | None, main: dict, scratch: dict,
                 volumes: list[dict], role_arn: pulumi.Input[str] | None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:StoreBackup", store.job, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**store.pods, "app.kubernetes.io/part-of": "mlplatform"}
        account = k8s.core.v1.ServiceAccount(
            f"{store.job}-account",
            metadata={"name": store.job, "namespace": store.namespace, "labels": labels,
                      **({"annotations": {"eks.amazonaws.com/role-arn": role_arn}} if role_arn is not None else {})},
            automount_service_account_token=False,
            opts=child,
        )
        # IRSA's token is a projected volume of its own; the pod calls no Kubernetes API. A failed run is not
        # restarted in place (a retry is a new pod, up to the Job's backoffLimit).
        pod = restricted_pod(
            [main], [{"name": SCRATCH, **scratch}, {"name": TMP, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}, *volumes],
            uid=DATABASE_UID if init else 10001, restart_policy="Never",
            serviceAccountName=store.job, **({"initContainers": [init]} if init else {}),
        )
        self.cron_job = k8s.batch.v1.CronJob(
            f"{store.job}-cronjob",
            metadata={"name": store.job, "namespace": store.namespace, "labels": labels},
            spec={
                "schedule": schedule,
                "timeZone": "Etc/UTC",
                # A dump still running is never doubled; a missed run (the controller down) starts within the hour.
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {"backoffLimit": 2, "activeDeadlineSeconds": DEADLINE_SECONDS,
                             "template": {"metadata": {"labels": labels}, "spec": pod}},
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        self.register_outputs({})


def declare(environment: str, stores: tuple[backups.Store, ...], bucket: ObjectStore, kms_key_arn: pulumi.Input[str] | None,
            role_arns: Mapping[str, pulumi.Input[str]], postgres_host: str,
            opts: Callable[[str], pulumi.ResourceOptions]) -> list[StoreBackup]:
    """The backups of ``stores``; ``opts(namespace)``: the options of a resource in that namespace (created after it)."""
    schedule = backups.schedule(environment)
    scratch = {"emptyDir": {"sizeLimit": "10Gi"}}
    declared = []
    for store in stores:
        role = role_arns.get(store.job)
        if store is backups.KFP_MYSQL:
            ca = {"name": "ca", "configMap": {"name": kfp.MYSQL_CA_CONFIG_MAP}}
            declared.append(StoreBackup(store, schedule, kfp_mysql_container(), copy_container(store, bucket, kms_key_arn), scratch,
                                        [ca], role, opts(store.namespace)))
        elif store is backups.POSTGRES:
            ca = {"name": "ca", "configMap": {"name": cluster_postgres.CA_CONFIG_MAP}}
            declared.append(StoreBackup(store, schedule, postgres_container(postgres_host), copy_container(store, bucket, kms_key_arn),
                                        scratch, [ca], role, opts(store.namespace)))
        else:
            # The mirror's own volume, apart from MinIO's (which the chart deletes with its release).
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{store.job}-volume",
                metadata={"name": store.job, "namespace": store.namespace, "labels": {**store.pods, "app.kubernetes.io/part-of": "mlplatform"}},
                spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": backups.MINIO_MIRROR_SIZE}}},
                opts=opts(store.namespace),
            )
            declared.append(StoreBackup(store, schedule, None, minio_container(bucket), {"persistentVolumeClaim": {"claimName": store.job}},
                                        [], None, pulumi.ResourceOptions.merge(opts(store.namespace),
                                                                               pulumi.ResourceOptions(depends_on=[claim]))))
    return declared
