"""Deterministic synthetic card-transaction data with a realistic fraud rate (about 3 %), in the public data set's schema.

    python -m pipelines.fraud.data --rows 50000 --seed 7 --out .demo/data/fraud.csv

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

from pipelines.fraud.contract import COLUMNS, LABEL, PUBLIC_COLUMNS


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
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    args = parser.parse_args(argv)
    frame = generate(args.rows, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(f"wrote {len(frame)} rows to {args.out} (fraud rate {frame[LABEL].mean():.2%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
