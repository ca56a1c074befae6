"""Deterministic synthetic card-transaction data with a realistic fraud rate (about 3 %), in the public data set's schema.

    python -m pipelines.fraud.data --rows 50000 --seed 7 --out .demo/data/fraud.csv
    python -m pipelines.fraud.data --raw --rows 5000 --out .demo/data/transactions.parquet

The raw mode (:func:`generate_raw`) writes transactions with history: ``customer_id``, ``event_timestamp``,
``amount``, ``latitude``/``longitude`` and the card flags. Its engineered columns and its label come from the
feature definitions' arithmetic (pipelines/features/transforms.py), applied as of just before each transaction;
training on it goes through Feast (``get_historical_features``). The public schema's mode (:func:`generate`)
stays as it was: a data set without customer ids trains as before.

Fraud is more likely for purchases far above the customer's median, online,
without chip or PIN, far from home, and at new retailers: the same signals as
public card-fraud data sets, with noise so no model is perfect.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.features import repo, transforms
from pipelines.fraud.contract import COLUMNS, FEATURES, LABEL, PUBLIC_COLUMNS

# The raw data's last instant unless told otherwise: a fixed anchor keeps a seed's frame the same on every run.
ANCHOR = pd.Timestamp("2026-01-01T00:00:00Z")
RAW_DAYS = 30


def generate(rows: int, seed: int = 7) -> pd.DataFrame:
    """``rows`` transactions; the same seed gives the same frame."""
    if rows <= 0:
        raise ValueError(f"rows must be positive, got {rows}")
    rng = np.random.default_rng(seed)
    distance_from_home = np.minimum(rng.lognormal(2.3, 1.2, rows), 20_000.0)
    distance_from_last = np.minimum(rng.lognormal(0.9, 1.3, rows), 20_000.0)
    ratio = np.minimum(rng.lognormal(0.0, 0.8, rows), 500.0)
    repeat_retailer = rng.binomial(1, 0.88, rows)
    used_chip = rng.binomial(1, 0.35, rows)
    used_pin = rng.binomial(1, 0.10, rows)
    online = rng.binomial(1, 0.65, rows)
    logit = (
        -11.0
        + 3.2 * np.log1p(ratio)
        + 0.7 * np.log1p(distance_from_home)
        + 0.5 * np.log1p(distance_from_last)
        + 2.2 * online
        - 1.8 * used_chip
        - 3.5 * used_pin
        - 0.8 * repeat_retailer
        + 1.5 * online * (ratio > 2.5)
        + rng.normal(0.0, 0.3, rows)
    )
    fraud = rng.binomial(1, 1.0 / (1.0 + np.exp(-logit)))
    frame = pd.DataFrame(
        {
            "distance_from_home": distance_from_home.round(3),
            "distance_from_last_transaction": distance_from_last.round(3),
            "ratio_to_median_purchase_price": ratio.round(4),
            "repeat_retailer": repeat_retailer,
            "used_chip": used_chip,
            "used_pin_number": used_pin,
            "online_order": online,
            LABEL: fraud,
        }
    )
    # Exactly the columns of the public card_transdata.csv, in its order, and its spelling:
    # binary columns and the label as 0.0/1.0.
    return _as_public(frame)


def _fraud(features: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """The label: the same signals as :func:`generate`'s, from engineered features (0 where a row has no history)."""
    f = features.fillna({"ratio_to_median_purchase_price": 1.0}).fillna(0.0)
    ratio = f["ratio_to_median_purchase_price"].to_numpy()
    logit = (
        -11.6
        + 3.2 * np.log1p(ratio)
        + 0.45 * np.log1p(f["distance_from_home"].to_numpy())
        + 0.4 * np.log1p(f["distance_from_last_transaction"].to_numpy())
        + 2.2 * f["online_order"].to_numpy()
        - 1.8 * f["used_chip"].to_numpy()
        - 3.5 * f["used_pin_number"].to_numpy()
        - 0.8 * f["repeat_retailer"].to_numpy()
        + 1.5 * f["online_order"].to_numpy() * (ratio > 2.5)
        + rng.normal(0.0, 0.3, len(f))
    )
    return rng.binomial(1, 1.0 / (1.0 + np.exp(-logit)))


def generate_raw(rows: int, seed: int = 7, customers: int | None = None, end: pd.Timestamp = ANCHOR) -> pd.DataFrame:
    """``rows`` raw transactions of ``customers`` (default rows // 20) over the 30 days before ``end``, time-ordered,
    with the label; the same seed and ``end`` give the same frame."""
    if rows <= 0:
        raise ValueError(f"rows must be positive, got {rows}")
    customers = customers or max(rows // 20, 1)
    rng = np.random.default_rng(seed)
    home_lat, home_lon = rng.uniform(30.0, 48.0, customers), rng.uniform(-120.0, -75.0, customers)
    typical = rng.lognormal(3.5, 0.7, customers)
    who = rng.integers(0, customers, rows)
    start = pd.Timestamp(end) - pd.Timedelta(days=RAW_DAYS)
    offsets = np.sort(rng.choice(RAW_DAYS * 86_400 * 1_000, size=rows, replace=False))
    # Mostly near home (a few km), sometimes far away (travel, or a stolen card's use).
    away = rng.random(rows) < 0.12
    lat = np.where(away, rng.uniform(25.0, 49.0, rows), home_lat[who] + rng.normal(0.0, 0.03, rows))
    lon = np.where(away, rng.uniform(-124.0, -67.0, rows), home_lon[who] + rng.normal(0.0, 0.03, rows))
    raw = pd.DataFrame({
        repo.JOIN_KEY: (who + 1).astype("int64"),
        repo.TIMESTAMP: start + pd.to_timedelta(offsets, unit="ms"),
        repo.AMOUNT: np.clip(typical[who] * rng.lognormal(0.0, 0.8, rows), 1.0, 50_000.0).round(2),
        repo.LATITUDE: lat.round(5),
        repo.LONGITUDE: lon.round(5),
        "repeat_retailer": rng.binomial(1, 0.88, rows),
        "used_chip": rng.binomial(1, 0.35, rows),
        "used_pin_number": rng.binomial(1, 0.10, rows),
        "online_order": rng.binomial(1, 0.65, rows),
    })
    raw[LABEL] = _fraud(engineered(raw), rng)
    return raw


def engineered(raw: pd.DataFrame) -> pd.DataFrame:
    """The model's features of each raw transaction, as of just before it: the customer's aggregates after their
    previous transaction and the transaction's own fields, through the feature definitions' arithmetic. A
    customer's first transaction has no history: its derived features are NaN (training through Feast drops it)."""
    aggregates = transforms.customer_aggregates(raw)
    # The previous transaction's aggregates row is the state as of just before this one (what the point-in-time
    # join picks for as_of(event_timestamp)); aggregates come back sorted by (customer, time), as raw is keyed.
    previous = aggregates.groupby(repo.JOIN_KEY, sort=False).shift(1)
    order = raw.assign(_row=np.arange(len(raw))).sort_values([repo.JOIN_KEY, repo.TIMESTAMP], kind="stable")["_row"]
    inputs = previous.set_index(order.to_numpy()).sort_index()
    inputs = inputs.assign(**{name: raw[name].to_numpy() for name in repo.REQUEST_FIELDS})
    derived = transforms.transaction_features(inputs)
    return transforms.model_vector(derived, raw, FEATURES)


def _as_public(frame: pd.DataFrame) -> pd.DataFrame:
    binary = [name for name in PUBLIC_COLUMNS if COLUMNS[name].kind == "binary"]
    return frame[PUBLIC_COLUMNS].astype({name: float for name in binary})


def drifted(frame: pd.DataFrame, seed: int = 13) -> pd.DataFrame:
    """``frame`` as a new fraud pattern would shift it: purchases far from home, online, without chip."""
    rng = np.random.default_rng(seed)
    shifted = frame.copy()
    shifted["distance_from_home"] = np.minimum(shifted["distance_from_home"] * 8.0, 20_000.0).round(3)
    shifted["online_order"] = rng.binomial(1, 0.97, len(shifted))
    shifted["used_chip"] = rng.binomial(1, 0.05, len(shifted))
    return _as_public(shifted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic fraud data set as CSV.")
    parser.add_argument("--rows", type=int, default=50_000, help="number of transactions (default 50000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write (parquet with --raw)")
    parser.add_argument("--raw", action="store_true", help="raw transactions with customer_id and event_timestamp (parquet)")
    parser.add_argument("--end", default=str(ANCHOR.date()),
                        help="raw mode: the data's last instant, ISO 8601 or 'now' (default the fixed anchor "
                             f"{ANCHOR.date()}; online features are materialized only within the view's TTL of now)")
    args = parser.parse_args(argv)
    try:
        end = pd.Timestamp.now(tz="UTC").floor("s") if args.end == "now" else pd.Timestamp(args.end, tz="UTC")
    except ValueError:
        parser.error(f"--end {args.end!r} is not an ISO 8601 time (e.g. 2026-01-01T00:00:00) or 'now'")
    frame = generate_raw(args.rows, args.seed, end=end) if args.raw else generate(args.rows, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out, index=False) if args.raw else frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} rows to {args.out} (fraud rate {frame[LABEL].mean():.2%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
