"""The feature arithmetic, once: the customer aggregates over raw transactions (the batch view's rows) and the
request-time features (the on-demand view's function). pandas and numpy only, working on pandas 2 (the features
environment, where Feast runs them) and 3 (the ML environment: the generator, the transformer's tests).
:func:`transaction_features` needs numpy only: the feature server runs it per request in Feast's python mode, where a
single-row lookup costs no DataFrame (pandas mode spent ~9 of the lookup's ~12 ms building and reading DataFrames).

:func:`transaction_features` is registered as the on-demand view's function (definitions.py). Feast stores its
source text in the registry and the feature server rebuilds it from that text, so it imports what it needs inside
its body and reads nothing from this module's globals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.features import repo

WINDOW = pd.Timedelta(days=7)


def as_of(timestamps: pd.Series) -> pd.Series:
    """When a transaction's features are read: just before it (the state the online store holds when it arrives)."""
    return timestamps - pd.Timedelta(microseconds=1)


def customer_aggregates(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per transaction: the customer's aggregates after it, stamped with its time (the batch source)."""
    missing = [c for c in (repo.JOIN_KEY, repo.TIMESTAMP, repo.AMOUNT, repo.LATITUDE, repo.LONGITUDE) if c not in raw]
    if missing:
        raise ValueError(f"raw transactions lack column(s) {', '.join(missing)}; write them with pipelines.fraud.data --raw")
    frame = raw[[repo.JOIN_KEY, repo.TIMESTAMP, repo.AMOUNT, repo.LATITUDE, repo.LONGITUDE]].copy()
    frame[repo.TIMESTAMP] = pd.to_datetime(frame[repo.TIMESTAMP], utc=True)
    frame = frame.sort_values([repo.JOIN_KEY, repo.TIMESTAMP], kind="stable").reset_index(drop=True)
    groups = frame.groupby(repo.JOIN_KEY, sort=False)

    def expanding_median(column: str) -> np.ndarray:
        return groups[column].expanding().median().to_numpy()

    seconds = (frame[repo.TIMESTAMP] - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    # Sorted by (customer, time): a key that keeps customers apart lets one searchsorted count the window.
    key = frame[repo.JOIN_KEY].to_numpy(np.int64) * 10**11 + seconds.to_numpy(np.int64)
    window_start = np.searchsorted(key, key - int(WINDOW.total_seconds()), side="right")
    return pd.DataFrame({
        repo.JOIN_KEY: frame[repo.JOIN_KEY].astype("int64"),
        repo.TIMESTAMP: frame[repo.TIMESTAMP],
        "median_purchase_amount": expanding_median(repo.AMOUNT),
        "home_latitude": expanding_median(repo.LATITUDE),
        "home_longitude": expanding_median(repo.LONGITUDE),
        "last_latitude": frame[repo.LATITUDE].astype("float64"),
        "last_longitude": frame[repo.LONGITUDE].astype("float64"),
        "last_transaction_at": frame[repo.TIMESTAMP],
        "transactions_7d": (np.arange(len(frame)) - window_start + 1).astype("int64"),
        "transactions_total": (groups.cumcount() + 1).astype("int64"),
    })


def transaction_features(inputs):
    """The request-time features from the customer's aggregates and the incoming transaction: columns in, columns out
    (``{name: sequence}`` -> ``{name: list}``). The on-demand view runs it in Feast's python mode (a dict of lists
    online, the joined table's columns offline) and the generator passes a DataFrame; a missing aggregate (a customer
    without history) gives None, which the feature server answers as null."""
    import numpy as np

    def column(name):
        return np.asarray(inputs[name], dtype="float64")  # None (no history) becomes NaN

    def kilometres(lat1, lon1, lat2, lon2):
        lat1, lon1, lat2, lon2 = (np.radians(column(name)) for name in (lat1, lon1, lat2, lon2))
        a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
        return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))

    def values(array):
        return [None if value != value else value for value in array.tolist()]  # NaN -> None

    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "ratio_to_median_purchase_price": values(np.clip(column("amount") / column("median_purchase_amount"), 0.0, 500.0)),
            "distance_from_home": values(np.clip(kilometres("home_latitude", "home_longitude", "latitude", "longitude"),
                                                 0.0, 20_000.0)),
            "distance_from_last_transaction": values(np.clip(kilometres("last_latitude", "last_longitude", "latitude",
                                                                        "longitude"), 0.0, 20_000.0)),
        }


def model_vector(derived: pd.DataFrame, transactions: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model's input columns in ``features`` order: the derived features and the transaction's own flags."""
    columns = {**{name: derived[name] for name in repo.DERIVED}, **{name: transactions[name] for name in repo.FLAGS}}
    unknown = [name for name in features if name not in columns]
    if unknown:
        raise ValueError(f"feature(s) {', '.join(unknown)} are neither derived ({', '.join(repo.DERIVED)}) nor flags")
    return pd.DataFrame({name: np.asarray(columns[name], dtype="float64") for name in features})
