"""The feature repository's facts, written once: names, where the registry and the data live, how each stack's
online store is configured, the feature server's port. Standard library only, so that the program (infra/, the
infra environment), the Feast definitions and steps (the features environment, pandas 2) and the transformer and
training (the ML environment, pandas 3) all import the same values.

:func:`feature_store_yaml` is the one writer of ``feature_store.yaml``: the pipeline's feature steps, the tests, the
demo and the feature server (the chart's ``feature_store_yaml_base64``) all get their configuration from it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

# The Feast project (registry namespace) and its objects, named for the domain.
PROJECT = "fraud"
ENTITY = "customer"
JOIN_KEY = "customer_id"
TIMESTAMP = "event_timestamp"
# The batch source: one row per (customer, transaction) with the customer's aggregates after that transaction.
SOURCE = "customer_aggregates_source"
AGGREGATES_VIEW = "customer_aggregates"
# The request source: the incoming transaction's own fields, and the on-demand view over it and the aggregates.
REQUEST_SOURCE = "transaction"
REQUEST_VIEW = "transaction_features"
# How long an aggregates row stays valid for a point-in-time join (a customer silent for longer has no history).
TTL = timedelta(days=90)

# The raw transactions' columns (pipelines/fraud/data.py writes them) besides the join key and the timestamp.
AMOUNT, LATITUDE, LONGITUDE = "amount", "latitude", "longitude"
FLAGS = ("repeat_retailer", "used_chip", "used_pin_number", "online_order")
# The batch view's features, as transforms.customer_aggregates computes them.
AGGREGATES = (
    "median_purchase_amount",
    "home_latitude",
    "home_longitude",
    "last_latitude",
    "last_longitude",
    "last_transaction_at",
    "transactions_7d",
    "transactions_total",
)
# What a request brings (the transaction's own fields the on-demand view reads) and what the view derives.
REQUEST_FIELDS = (AMOUNT, LATITUDE, LONGITUDE)
DERIVED = ("ratio_to_median_purchase_price", "distance_from_home", "distance_from_last_transaction")
# Feature references as get_historical_features / get_online_features and the feature server take them.
DERIVED_REFS = tuple(f"{REQUEST_VIEW}:{name}" for name in DERIVED)
FRESHNESS_REF = f"{AGGREGATES_VIEW}:last_transaction_at"

# Layout under the platform's bucket (s3://<bucket>/<prefix>...; a local folder in tests and the demo).
PREFIX = "feast"
REGISTRY_KEY = f"{PREFIX}/registry.db"
AGGREGATES_KEY = f"{PREFIX}/data/customer_aggregates.parquet"

# The feature server (`feast serve`, the chart's online mode): its container port, and the chart's Service port.
SERVER_PORT = 6566
SERVICE_PORT = 80
SERVER_PATH = "/get-online-features"
# Seconds the server caches the registry before reading it again from the bucket.
REGISTRY_TTL_SECONDS = 60

# Online stores per stack: DynamoDB on AWS (Feast's native one), the platform's in-cluster PostgreSQL locally; and
# Feast's SQLite file for `make demo` on one machine (nothing to start or install).
OnlineStoreKind = Literal["dynamodb", "postgres", "sqlite"]
ONLINE_STORES: tuple[str, ...] = ("dynamodb", "postgres", "sqlite")
# The DynamoDB table Feast writes is `<prefix><project>.<view>` (table_name_template's default); the program
# creates exactly this table and scopes the IRSA role to it.
DYNAMODB_TABLE = f"{PROJECT}.{AGGREGATES_VIEW}"
# Postgres: the database, user and schema of the feature store, and the env var holding the user's password
# (feature_store.yaml reads `${...}` from the environment: the password never sits in the file or the chart).
POSTGRES_DATABASE = "feast"
POSTGRES_USER = "feast"
POSTGRES_SCHEMA = "feast"
POSTGRES_PASSWORD_ENV = "FEAST_POSTGRES_PASSWORD"
# The Secret holding that password in the feature server's and the pipelines' namespaces, and its key.
POSTGRES_SECRET = "feast-postgres"
POSTGRES_PASSWORD_KEY = "password"
# The pipeline steps that write the feature store (training set, materialize) carry this label (kfp-kubernetes
# add_pod_label): only they reach the online store (infra/feature_store.py's flow), never every pipeline pod.
FEATURE_STEP_PODS = {"mlplatform.io/feature-store": "writer"}


def registry_path(root: str) -> str:
    """The registry's path under ``root`` (``s3://bucket`` or a local folder)."""
    return f"{root.rstrip('/')}/{REGISTRY_KEY}"


def root_of(config: dict) -> str:
    """The bucket (or folder) a ``feature_store.yaml`` (:func:`feature_store_yaml`'s dict) keeps its registry under."""
    path = str(config.get("registry", {}).get("path", ""))
    if not path.endswith(f"/{REGISTRY_KEY}"):
        raise ValueError(f"the feature store's registry path {path!r} is not <root>/{REGISTRY_KEY}: write the config "
                         "with repo.feature_store_yaml")
    return path.removesuffix(f"/{REGISTRY_KEY}")


# The model version's lineage tags (the register step): ``feature_view.<view>`` = the view's version, and where the
# training data came from (``feature_source``: "feast" through get_historical_features, "file" for a ready CSV).
LINEAGE_TAG_PREFIX = "feature_view."
FEATURE_SOURCE_TAG = "feature_source"
FEATURE_SOURCES = ("file", "feast")


def check_feature_source(source: str) -> str:
    """``source`` when it is one of :data:`FEATURE_SOURCES`, else a one-line ValueError naming the allowed values (a run
    with a misspelt source must not silently train from another one)."""
    if source not in FEATURE_SOURCES:
        raise ValueError(f"feature_source {source!r} is not one of {', '.join(FEATURE_SOURCES)}: set the run's feature_source "
                         "parameter to one of them")
    return source


def lineage_tags(views: dict[str, str], source: str) -> dict[str, str]:
    """The model version's tags naming the feature views (``{view: version}``) its training data was read through."""
    check_feature_source(source)
    return {FEATURE_SOURCE_TAG: source, **{f"{LINEAGE_TAG_PREFIX}{view}": str(version) for view, version in sorted(views.items())}}


def aggregates_path(root: str) -> str:
    """The batch source's parquet file under ``root``."""
    return f"{root.rstrip('/')}/{AGGREGATES_KEY}"


def online_store(kind: str, *, region: str = "", endpoint_url: str = "", host: str = "", port: int = 5432,
                 sslmode: str = "require", path: str = "") -> dict:
    """The ``online_store`` block of ``feature_store.yaml`` for ``kind``; an unknown kind is refused."""
    if kind == "dynamodb":
        if not region:
            raise ValueError("the dynamodb online store needs region= (the stack's AWS region)")
        block = {"type": "dynamodb", "region": region, "consistent_reads": False}
        return block | ({"endpoint_url": endpoint_url} if endpoint_url else {})
    if kind == "postgres":
        if not host:
            raise ValueError("the postgres online store needs host= (the in-cluster PostgreSQL service)")
        return {"type": "postgres", "host": host, "port": int(port), "database": POSTGRES_DATABASE,
                "db_schema": POSTGRES_SCHEMA, "user": POSTGRES_USER, "password": "${" + POSTGRES_PASSWORD_ENV + "}",
                "sslmode": sslmode}
    if kind == "sqlite":
        if not path:
            raise ValueError("the sqlite online store needs path= (the database file)")
        return {"type": "sqlite", "path": path}
    raise ValueError(f"online store {kind!r} is not one of {', '.join(ONLINE_STORES)}; pick one")


# Where the bucket is MinIO (the local stack), Feast's S3 registry reads its endpoint from this env var
# (feast/infra/registry/s3.py at 0.66.0); the parquet reads take AWS_ENDPOINT_URL (pyarrow/s3fs).
S3_ENDPOINT_ENVS = ("FEAST_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")


def feature_store_yaml(root: str, online: dict) -> dict:
    """``feature_store.yaml`` as a dict: registry and offline store on ``root`` (the bucket), ``online`` from
    :func:`online_store`. The MinIO endpoint, where there is one, comes from :data:`S3_ENDPOINT_ENVS`."""
    registry = {"registry_type": "file", "path": registry_path(root), "cache_ttl_seconds": REGISTRY_TTL_SECONDS}
    return {
        "project": PROJECT,
        "provider": "aws" if online.get("type") == "dynamodb" else "local",
        "registry": registry,
        "offline_store": {"type": "file"},
        "online_store": online,
        "entity_key_serialization_version": 3,
    }


def server_command(port: int = SERVER_PORT) -> list[str]:
    """How the feature server is started (the chart's online mode runs the same `feast serve`). No access log: a line
    per lookup on the hot path, where the server's metrics already count requests and their latency. No worker
    recycling (``--max-requests 0``; Feast's default 1000 restarts its one gunicorn worker every ~1000 lookups, and
    the new worker takes seconds to start, longer than the transformer waits): the pod's memory limit bounds a leak."""
    return ["feast", "serve", "-h", "0.0.0.0", "-p", str(port), "--registry_ttl_sec", str(REGISTRY_TTL_SECONDS), "--no-access-log",
            "--max-requests", "0"]
