"""The demo's feature store, run in the features environment (Feast 0.66, pandas 2): raw transactions with history,
the fraud feature repository applied to a local folder (registry and offline store, as on the bucket), every
customer's latest aggregates materialized into the online store, and `feast serve` on it, as the chart runs it.

    .venv-features/bin/python -m demo.feature_store --workdir .demo/features [--rows 20000]

Prints one JSON line once the server answers (its URL, the raw data's path, when it materialized, the newest event),
then serves until it is stopped. The online store here is Feast's SQLite one (a file: nothing to start); the stacks
use DynamoDB or the in-cluster PostgreSQL, which tests/features runs for real.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path

import pandas as pd

from pipelines.features import repo, store
from pipelines.features.local import feature_server
from pipelines.fraud.data import generate_raw


def prepare(workdir: Path, rows: int, seed: int) -> dict:
    """Raw data ending a minute ago, applied and materialized; the repository folder `feast serve` runs in."""
    end = pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(minutes=1)
    raw = generate_raw(rows, seed=seed, end=end)
    raw_path = workdir / "raw.parquet"
    raw.to_parquet(raw_path, index=False)
    config = repo.feature_store_yaml(str(workdir / "store"), repo.online_store("sqlite", path=str(workdir / "online.db")))
    feature_store = store.open_store(config, workdir / "repo")
    store.apply(feature_store, str(workdir / "store"), raw)
    materialized = store.materialize(feature_store)
    return {"repo": str(feature_store.repo_path), "raw": str(raw_path), "customers": int(raw[repo.JOIN_KEY].nunique()),
            "materialized_at": materialized.isoformat(), "newest_event": raw[repo.TIMESTAMP].max().isoformat()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="where the repository, data and online store live")
    parser.add_argument("--rows", type=int, default=20_000, help="raw transactions to generate (default 20000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    args.workdir.mkdir(parents=True, exist_ok=True)
    # Feast prints its progress on stdout: stdout carries only the one JSON line the demo reads.
    with contextlib.redirect_stdout(sys.stderr):
        facts = prepare(args.workdir, args.rows, args.seed)
    with feature_server(facts["repo"]) as url:
        print(json.dumps({"url": url, **facts}), flush=True)
        signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
