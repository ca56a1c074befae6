"""How the training steps hand tables to each other, and what each step reports about its own cost.

Between steps a table is Parquet (pyarrow, in the step image's lock): typed, compressed, read in a
fraction of a CSV's time. A step still reads a CSV file it is given directly (``benchmarks/gpu_training.py``
runs the train step on one), told apart by Parquet's magic bytes.

Each step ends with one :data:`PEAK_RSS` line, its process's resident-memory high-water mark and CPU seconds
(user + system: on a shared machine, the figure other processes do not inflate), which
``benchmarks/pipeline_run.py`` reads from the run's log.
"""

from __future__ import annotations

import resource
from pathlib import Path

PARQUET_MAGIC = b"PAR1"
# "<PEAK_RSS><step> <MiB> MiB, <seconds> s CPU": one line per step process.
PEAK_RSS = "STEP PEAK RSS: "


def write(frame, path: str | Path) -> None:
    """Write ``frame`` (a pandas DataFrame) as Parquet, without its index."""
    frame.to_parquet(path, index=False)


def read(path: str | Path, columns: list[str] | None = None):
    """The table at ``path`` (Parquet, or a CSV file with a header) as a pandas DataFrame, only ``columns`` if given."""
    import pandas as pd

    with open(path, "rb") as handle:
        parquet = handle.read(4) == PARQUET_MAGIC
    if parquet:
        return pd.read_parquet(path, columns=columns)
    return pd.read_csv(path, usecols=columns, engine="pyarrow")


def head(path: str | Path, rows: int, columns: list[str]):
    """The first ``rows`` rows of ``columns`` of the table at ``path``, without reading the rest of a Parquet file."""
    with open(path, "rb") as handle:
        parquet = handle.read(4) == PARQUET_MAGIC
    if not parquet:
        import pandas as pd

        return pd.read_csv(path, usecols=columns, nrows=rows)[columns]
    import pyarrow.parquet as pq

    batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns))
    return batch.to_pandas()[columns]


def report_peak_rss(step: str) -> None:
    """Print the step's :data:`PEAK_RSS` line: this process's peak resident memory (Linux reports KiB) and CPU time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{PEAK_RSS}{step} {usage.ru_maxrss / 1024:.0f} MiB, {usage.ru_utime + usage.ru_stime:.1f} s CPU", flush=True)
