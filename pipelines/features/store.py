"""What the pipeline's feature steps, the tests and the demo do with the feature store (features environment):

    python -m pipelines.features.store apply --root DIR_OR_S3 --config feature_store.yaml --raw transactions.parquet
    python -m pipelines.features.store materialize --root ... --config ...
    python -m pipelines.features.store historical --root ... --config ... --raw transactions.parquet --out training.parquet

``apply`` writes the aggregates (the batch source) from the raw transactions and registers the definitions;
``materialize`` loads each customer's latest aggregates into the online store; ``historical`` builds the training
set with a point-in-time join: each transaction's features as of just before it (transforms.as_of).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml
from feast import FeatureStore

from pipelines.features import definitions, repo, transforms
from pipelines.fraud.contract import FEATURES, LABEL

_AT = "transaction_at"


def open_store(config: dict) -> FeatureStore:
    """A FeatureStore on ``config`` (repo.feature_store_yaml's dict; ``${VAR}`` read from the environment)."""
    folder = Path(tempfile.mkdtemp(prefix="feast-repo-"))
    (folder / "feature_store.yaml").write_text(yaml.safe_dump(config))
    return FeatureStore(repo_path=str(folder))


def apply(store: FeatureStore, root: str, raw: pd.DataFrame) -> pd.DataFrame:
    """Write the aggregates of ``raw`` to the batch source under ``root`` and register the definitions."""
    aggregates = transforms.customer_aggregates(raw)
    path = repo.aggregates_path(root)
    if "://" not in path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    aggregates.to_parquet(path, index=False)
    store.apply(definitions.objects(root))
    return aggregates


def materialize(store: FeatureStore, end: datetime | None = None) -> datetime:
    """Load every customer's latest aggregates of the TTL before ``end`` (default now) into the online store."""
    end = end or datetime.now(UTC)
    store.materialize(start_date=end - repo.TTL, end_date=end, feature_views=[repo.AGGREGATES_VIEW])
    return end


def historical(store: FeatureStore, raw: pd.DataFrame) -> pd.DataFrame:
    """The training set: each transaction's model features as of just before it, the label, id and the
    transaction's own time. Transactions without earlier history (a customer's first) have no features: left out."""
    at = pd.to_datetime(raw[repo.TIMESTAMP], utc=True)
    entities = raw.assign(**{repo.TIMESTAMP: transforms.as_of(at), _AT: at})
    joined = store.get_historical_features(entity_df=entities, features=list(repo.DERIVED_REFS)).to_df()
    joined = joined.dropna(subset=list(repo.DERIVED)).assign(**{repo.TIMESTAMP: lambda f: f[_AT]})
    joined = joined.sort_values([repo.TIMESTAMP, repo.JOIN_KEY], kind="stable")
    vector = transforms.model_vector(joined, joined, FEATURES)
    vector[LABEL] = joined[LABEL].to_numpy()
    vector[repo.JOIN_KEY] = joined[repo.JOIN_KEY].to_numpy()
    vector[repo.TIMESTAMP] = joined[repo.TIMESTAMP].to_numpy()
    return vector.reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply, materialize or read the fraud feature repository.")
    parser.add_argument("action", choices=["apply", "materialize", "historical"])
    parser.add_argument("--root", required=True, help="the bucket (s3://...) or a local folder")
    parser.add_argument("--config", type=Path, required=True, help="feature_store.yaml (repo.feature_store_yaml)")
    parser.add_argument("--raw", type=Path, help="raw transactions parquet (apply, historical)")
    parser.add_argument("--out", type=Path, help="training set parquet (historical)")
    args = parser.parse_args(argv)
    if args.action in ("apply", "historical") and not args.raw:
        parser.error(f"{args.action} needs --raw (raw transactions parquet from pipelines.fraud.data --raw)")
    if args.action == "historical" and not args.out:
        parser.error("historical needs --out (where to write the training set)")
    store = open_store(yaml.safe_load(args.config.read_text()))
    if args.action == "apply":
        rows = apply(store, args.root, pd.read_parquet(args.raw))
        print(f"applied {repo.PROJECT}: {len(rows)} aggregate rows at {repo.aggregates_path(args.root)}")
    elif args.action == "materialize":
        print(f"materialized {repo.AGGREGATES_VIEW} up to {materialize(store).isoformat()}")
    else:
        frame = historical(store, pd.read_parquet(args.raw))
        frame.to_parquet(args.out, index=False)
        print(f"wrote {len(frame)} training rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
