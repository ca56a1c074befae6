"""What the pipeline's feature steps, the tests and the demo do with the feature store (features environment):

    python -m pipelines.features.store apply --root DIR_OR_S3 --config feature_store.yaml --raw transactions.parquet
    python -m pipelines.features.store materialize --config ...
    python -m pipelines.features.store historical --root ... --config ... --raw transactions.parquet --out training.parquet
    python -m pipelines.features.store training-set --config ... --raw transactions.parquet --out training.csv \
        --metadata metadata.json

``apply`` writes the aggregates (the batch source) from the raw transactions and registers the definitions;
``materialize`` loads what is new since the last materialization (Feast's materialize_incremental; the first time,
the TTL before now) into the online store; ``historical`` builds the training set with a point-in-time join: each
transaction's features as of just before it (transforms.as_of). ``training-set`` is the pipeline's step: apply, then
historical, written as the CSV the validate step reads (the contract's columns), with its lineage in ``--metadata``.
``--root`` defaults to the config's (repo.root_of).
"""

from __future__ import annotations

import argparse
import json
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


def open_store(config: dict, folder: Path | None = None) -> FeatureStore:
    """A FeatureStore on ``config`` (repo.feature_store_yaml's dict; ``${VAR}`` read from the environment), its
    feature_store.yaml in ``folder`` (where `feast serve` can run too) or a fresh temporary one."""
    folder = folder or Path(tempfile.mkdtemp(prefix="feast-repo-"))
    folder.mkdir(parents=True, exist_ok=True)
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


def incremental(store: FeatureStore, end: datetime | None = None) -> datetime:
    """Load what is new since the last materialization (the TTL before ``end`` the first time) into the online store."""
    end = end or datetime.now(UTC)
    store.materialize_incremental(end_date=end, feature_views=[repo.AGGREGATES_VIEW])
    return end


def training_set(store: FeatureStore, root: str, raw: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The pipeline's training set from ``raw`` transactions: :func:`apply`, then :func:`historical`, in the contract's
    columns (what the validate step reads); and its lineage: the feature views and their versions, rows, time span."""
    apply(store, root, raw)
    frame = historical(store, raw)
    metadata = {"feature_source": "feast", "feature_views": definitions.lineage(), "rows": len(frame),
                "raw_rows": len(raw), "without_history": len(raw) - len(frame),
                "first_event": str(frame[repo.TIMESTAMP].min()), "last_event": str(frame[repo.TIMESTAMP].max())}
    return frame[[*FEATURES, LABEL]], metadata


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
    parser.add_argument("action", choices=["apply", "materialize", "historical", "training-set"])
    parser.add_argument("--root", help="the bucket (s3://...) or a local folder (default: the config's registry root)")
    parser.add_argument("--config", type=Path, required=True, help="feature_store.yaml (repo.feature_store_yaml)")
    parser.add_argument("--raw", type=Path, help="raw transactions, parquet or CSV (apply, historical, training-set)")
    parser.add_argument("--out", type=Path, help="the training set: parquet (historical) or CSV (training-set)")
    parser.add_argument("--metadata", type=Path, help="training-set: where to write its lineage (JSON)")
    args = parser.parse_args(argv)
    if args.action != "materialize" and not args.raw:
        parser.error(f"{args.action} needs --raw (raw transactions from pipelines.fraud.data --raw)")
    if args.action in ("historical", "training-set") and not args.out:
        parser.error(f"{args.action} needs --out (where to write the training set)")
    config = yaml.safe_load(args.config.read_text())
    root = args.root or repo.root_of(config)
    store = open_store(config)
    if args.action == "apply":
        rows = apply(store, root, read_raw(args.raw))
        print(f"applied {repo.PROJECT}: {len(rows)} aggregate rows at {repo.aggregates_path(root)}")
    elif args.action == "materialize":
        print(f"materialized {repo.AGGREGATES_VIEW} incrementally up to {incremental(store).isoformat()}")
    elif args.action == "historical":
        frame = historical(store, read_raw(args.raw))
        frame.to_parquet(args.out, index=False)
        print(f"wrote {len(frame)} training rows to {args.out}")
    else:
        frame, metadata = training_set(store, root, read_raw(args.raw))
        frame.to_csv(args.out, index=False)
        if args.metadata:
            args.metadata.write_text(json.dumps(metadata))
        print(f"wrote {len(frame)} training rows to {args.out} through {json.dumps(metadata['feature_views'])} "
              f"({metadata['without_history']} first transactions without history left out)")
    return 0


def read_raw(path: Path) -> pd.DataFrame:
    """Raw transactions from parquet (the generator's --raw) or CSV (timestamps parsed); anything else is refused."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == b"PAR1":
        return pd.read_parquet(path)
    frame = pd.read_csv(path)
    missing = [name for name in (repo.JOIN_KEY, repo.TIMESTAMP) if name not in frame.columns]
    if missing:
        raise ValueError(f"{path} has no {' and no '.join(missing)} column: raw transactions need customer_id and "
                         "event_timestamp (python -m pipelines.fraud.data --raw writes them)")
    return frame.assign(**{repo.TIMESTAMP: pd.to_datetime(frame[repo.TIMESTAMP], utc=True)})


if __name__ == "__main__":
    sys.exit(main())
