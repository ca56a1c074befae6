"""Backups of the platform's in-cluster stores: what is backed up, where, how often, how long it is kept, and the
shell each backup container runs (the same script restores, with ``BACKUP_MODE=restore``).

- ``kfp-mysql`` (every stack): KFP's MySQL, its pipelines and MLMD databases, in one consistent
  ``mysqldump --single-transaction`` over TLS, gzipped, by the MySQL image the server runs.
- ``postgres`` (stacks with the in-cluster database): MLflow's Postgres, ``pg_dump`` in its custom format, by
  the Postgres image the server runs.
- ``minio`` (the local stack): MinIO's buckets mirrored (``aws s3 sync``) onto a volume of their own.

Each database dump is written to a scratch emptyDir by the database image, then copied by the aws-cli image
to the platform's artifacts bucket under ``backups/<store>/`` (SSE-KMS with the platform's S3 key on AWS; on
MinIO, which runs without a KMS, the object is stored unencrypted: the local stack is a developer's cluster).
The bucket's lifecycle expires ``backups/`` after :data:`RETENTION_DAYS` (S3; MinIO keeps them).

A restore (``python -m tooling.restore``) runs the CronJob's own pod as a Job with ``BACKUP_MODE=restore``:
the copy container first (it downloads the newest dump, or ``BACKUP_KEY``), the database container last
(it loads the dump). Same image, identity, network flows and security as the backup.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra import flows
from infra import namespaces as ns
from infra.config import Settings
from infra.workloads import Workload

# The prefix of every backup in the artifacts bucket (the lifecycle rule and the IRSA grants name it).
PREFIX = "backups/"
# Where a backup pod keeps the dump (an emptyDir; MinIO's mirror: its own volume) and its temporary files.
SCRATCH_DIR = "/backup"
TMP_DIR = "/tmp"
# How often each environment's stores are dumped (5-field cron, UTC) and for how many days S3 keeps a dump.
SCHEDULES = {"dev": "17 3 * * *", "staging": "17 3 * * *", "prod": "17 */6 * * *", "local": "17 3 * * *"}
RETENTION_DAYS = {"dev": 7, "staging": 14, "prod": 35, "local": 7}
# The MinIO mirror's volume (the local stack): apart from MinIO's own, which its chart deletes with the release.
MINIO_MIRROR_SIZE = "20Gi"


@dataclass(frozen=True)
class Store:
    """One store's backup: its CronJob and service account (``<name>-backup``), namespace and pods' labels."""

    name: str
    namespace: str
    pods: dict[str, str]

    @property
    def job(self) -> str:
        """The CronJob's (and its service account's, and its IRSA workload's) name."""
        return f"{self.name}-backup"

    @property
    def prefix(self) -> str:
        """Where its dumps go in the artifacts bucket."""
        return f"{PREFIX}{self.name}/"

    @property
    def workload(self) -> Workload:
        """Its IRSA identity: put its dumps and read them back (a restore) under its own prefix; never delete one."""
        return Workload(name=self.job, namespace=self.namespace, service_accounts=(self.job,),
                        grants=(("artifacts", self.prefix, "backup"),))


KFP_MYSQL = Store("kfp-mysql", ns.KUBEFLOW.name, flows.KFP_MYSQL_BACKUP_PODS)
POSTGRES = Store("postgres", ns.POSTGRES.name, flows.POSTGRES_BACKUP_PODS)
MINIO = Store("minio", ns.MINIO.name, flows.MINIO_BACKUP_PODS)
STORES = (KFP_MYSQL, POSTGRES, MINIO)
# The stores whose dumps leave for the bucket (MinIO's mirror stays on its volume).
DUMPED = (KFP_MYSQL, POSTGRES)

# Every script starts so: any failed command fails the job (and so the CronJob's last run shows it).
_STRICT = "set -euo pipefail\numask 077\n"

# KFP's MySQL (the mysql image): a TLS connection checked against the CA and the service's name. The --loose-
# options are the two spellings of "verify the server's name": MySQL 8.4's client knows the first, MariaDB's the
# second; each client ignores the other's. The password goes in an option file, never in the arguments.
MYSQL_SCRIPT = _STRICT + """\
printf '[client]\\npassword=%s\\n' "$MYSQL_PASSWORD" > "$TMPDIR/client.cnf"
connect=(--defaults-extra-file="$TMPDIR/client.cnf" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --user="$MYSQL_USER"
         --ssl-ca="$MYSQL_CA_FILE" --loose-ssl-mode=VERIFY_IDENTITY --loose-ssl-verify-server-cert)
if [ "${BACKUP_MODE:-backup}" = restore ]; then
  for dump in "$BACKUP_DIR"/*.sql.gz; do
    echo "restoring $(basename "$dump") into $MYSQL_HOST"
    gunzip -c "$dump" | mysql "${connect[@]}"
  done
else
  dump="$BACKUP_DIR/$(date -u +%Y%m%dT%H%M%SZ).sql.gz"
  mysqldump "${connect[@]}" --single-transaction --routines --triggers --events --databases $MYSQL_DATABASES | gzip > "$dump.partial"
  mv "$dump.partial" "$dump"
  echo "dumped $MYSQL_DATABASES to $(basename "$dump") ($(wc -c < "$dump") bytes)"
fi
"""

# MLflow's Postgres (the postgres image): libpq's PG* environment, verify-full against the CA.
POSTGRES_SCRIPT = _STRICT + """\
if [ "${BACKUP_MODE:-backup}" = restore ]; then
  for dump in "$BACKUP_DIR"/*.dump; do
    echo "restoring $(basename "$dump") into $PGDATABASE on $PGHOST"
    pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error --dbname="$PGDATABASE" "$dump"
  done
else
  dump="$BACKUP_DIR/$(date -u +%Y%m%dT%H%M%SZ).dump"
  pg_dump --format=custom --file="$dump.partial"
  mv "$dump.partial" "$dump"
  echo "dumped $PGDATABASE to $(basename "$dump") ($(wc -c < "$dump") bytes)"
fi
"""

# The copy (the aws-cli image): the dump to the bucket under the store's prefix, SSE-KMS where a key is named;
# in restore mode the newest dump there (or BACKUP_KEY) to the scratch folder. S3_ENDPOINT_URL: MinIO's.
COPY_SCRIPT = _STRICT + """\
aws_s3() { aws ${S3_ENDPOINT_URL:+--endpoint-url "$S3_ENDPOINT_URL"} "$@"; }
if [ "${BACKUP_MODE:-backup}" = restore ]; then
  key="${BACKUP_KEY:-}"
  if [ -z "$key" ]; then
    key=$(aws_s3 s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$BACKUP_PREFIX" \\
          --query 'sort_by(Contents || `[]`, &Key)[-1].Key' --output text)
    key=${key#"$BACKUP_PREFIX"}
  fi
  if [ -z "$key" ] || [ "$key" = None ]; then
    echo "error: no backup under s3://$BACKUP_BUCKET/$BACKUP_PREFIX; list them with aws s3 ls" >&2
    exit 1
  fi
  aws_s3 s3 cp --no-progress "s3://$BACKUP_BUCKET/$BACKUP_PREFIX$key" "$BACKUP_DIR/$key"
else
  aws_s3 s3 cp --recursive --no-progress ${BACKUP_KMS_KEY_ARN:+--sse aws:kms --sse-kms-key-id "$BACKUP_KMS_KEY_ARN"} \\
    "$BACKUP_DIR/" "s3://$BACKUP_BUCKET/$BACKUP_PREFIX"
fi
"""

# MinIO's mirror (the aws-cli image, MinIO's root keys): each bucket to its folder on the mirror's volume, and
# back in restore mode. No --delete: an object deleted from MinIO stays in the mirror.
MINIO_SCRIPT = _STRICT + """\
for bucket in $MINIO_BUCKETS; do
  if [ "${BACKUP_MODE:-backup}" = restore ]; then
    aws --endpoint-url "$S3_ENDPOINT_URL" s3 sync --no-progress "$BACKUP_DIR/$bucket" "s3://$bucket"
  else
    aws --endpoint-url "$S3_ENDPOINT_URL" s3 sync --no-progress "s3://$bucket" "$BACKUP_DIR/$bucket"
  fi
done
"""


def for_stack(settings: Settings) -> tuple[Store, ...]:
    """The stores this stack backs up: KFP's MySQL always, the in-cluster Postgres and MinIO where the stack runs them."""
    return tuple(store for store in STORES if store is KFP_MYSQL
                 or (store is POSTGRES and settings.database.kind == "in-cluster")
                 or (store is MINIO and settings.object_store == "minio"))


def workloads(settings: Settings) -> tuple[Workload, ...]:
    """The IRSA identities of the stack's dump jobs (on AWS; MinIO's mirror uses MinIO's keys)."""
    return tuple(store.workload for store in for_stack(settings) if store in DUMPED)


def schedule(environment: str) -> str:
    """The environment's backup schedule."""
    return SCHEDULES[environment]


def retention_days(environment: str) -> int:
    """How many days the environment's bucket keeps a dump."""
    return RETENTION_DAYS[environment]
