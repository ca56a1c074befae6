"""The feature repository's Feast objects: the customer entity, the batch view of customer aggregates over the
parquet source on the bucket, and the on-demand view deriving the request-time features. Training
(``get_historical_features``) and serving (the feature server, behind the KServe transformer) both read these.

Runs in the features environment (Feast 0.66.0, pandas 2): ``requirements/features.txt``.
"""

from __future__ import annotations

import types

from feast import Entity, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, UnixTimestamp

from pipelines.features import repo, transforms

# Bumped when a view's definition changes; recorded as a tag on the view and on the model version (lineage).
VERSIONS = {repo.AGGREGATES_VIEW: "1", repo.REQUEST_VIEW: "1"}

_TYPES = {"last_transaction_at": UnixTimestamp, "transactions_7d": Int64, "transactions_total": Int64}


def objects(root: str) -> list:
    """Every object of the repository, with the batch source under ``root`` (``s3://bucket`` or a folder)."""
    customer = Entity(name=repo.ENTITY, join_keys=[repo.JOIN_KEY], value_type=ValueType.INT64,
                      description="A card holder; transactions and aggregates are keyed by customer_id.")
    source = FileSource(name=repo.SOURCE, path=repo.aggregates_path(root), timestamp_field=repo.TIMESTAMP,
                        description="The customer's aggregates after each transaction (transforms.customer_aggregates).")
    aggregates = FeatureView(
        name=repo.AGGREGATES_VIEW,
        entities=[customer],
        ttl=repo.TTL,
        schema=[Field(name=name, dtype=_TYPES.get(name, Float64)) for name in repo.AGGREGATES],
        source=source,
        online=True,
        tags={"version": VERSIONS[repo.AGGREGATES_VIEW]},
        description="Median purchase, home and last location, last transaction time, recent counts per customer.",
    )
    transaction = RequestSource(name=repo.REQUEST_SOURCE,
                                schema=[Field(name=name, dtype=Float64) for name in repo.REQUEST_FIELDS])
    derived = on_demand_feature_view(
        name=repo.REQUEST_VIEW,
        sources=[aggregates, transaction],
        schema=[Field(name=name, dtype=Float64) for name in repo.DERIVED],
        mode="python",  # columns as lists: no DataFrame per request (transforms.transaction_features)
        tags={"version": VERSIONS[repo.REQUEST_VIEW]},
        description="Ratio to the customer's median purchase, distance from home and from the last transaction.",
    )(_fresh(transforms.transaction_features))
    return [customer, source, aggregates, transaction, derived]


def _fresh(function: types.FunctionType) -> types.FunctionType:
    """A copy of ``function``: Feast's decorator renames its function's module to ``__main__`` (for dill), after
    which the source can no longer be found; a copy keeps the original intact for the next ``objects()``."""
    return types.FunctionType(function.__code__, function.__globals__, function.__name__, function.__defaults__,
                              function.__closure__)


def lineage() -> dict[str, str]:
    """``{view: version}`` for the model version's tags."""
    return dict(VERSIONS)
