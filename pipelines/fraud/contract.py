"""The data contract of the fraud training data: columns, types, ranges, label, and how a file is read.

The schema is the public card-fraud data set's (``card_transdata.csv``): seven features and the
label ``fraud``. The pipeline's validate step receives the contract as a parameter, so the contract
a run used is recorded in the run itself, and checks a file with :func:`read` and :func:`check`.

What a file must look like, and what is refused with a one-line reason:

- Comma-separated UTF-8 with a header row. A UTF-8 byte-order mark is accepted (and reported);
  UTF-16 is refused. A header that is one field holding ``;``, tab or ``|`` is refused as a
  delimiter problem, naming the delimiter found.
- Each column at most once: a repeated header name is refused, naming it and its positions.
- Every required column present; optional columns (``amount``) are checked when present and are
  not model features; any other column is refused unless ``allow_extra_columns``.
- Binary columns and the label: any numeric spelling of 0 and 1 (``1``, ``1.0`` as the public file
  writes it, ``1.000000``, ``1e0``) and ``true``/``false`` (any case) are accepted and stored as
  integers 0/1; anything else is refused.
- No feature column constant (one value in every row): it carries no signal, and a stuck export
  would otherwise train silently. Refused naming the column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

LABEL = "fraud"


@dataclass(frozen=True)
class Column:
    """One column: ``float`` within [low, high], or ``binary`` (0/1); optional columns may be absent."""

    kind: str
    low: float = 0.0
    high: float = 1.0
    required: bool = True


# In the public data set's order; the features are the required non-label columns, in this order.
COLUMNS: dict[str, Column] = {
    "distance_from_home": Column("float", 0.0, 20_000.0),
    "distance_from_last_transaction": Column("float", 0.0, 20_000.0),
    "ratio_to_median_purchase_price": Column("float", 0.0, 500.0),
    "repeat_retailer": Column("binary"),
    "used_chip": Column("binary"),
    "used_pin_number": Column("binary"),
    "online_order": Column("binary"),
    LABEL: Column("binary"),
    # Not in the public data set; some exports carry it. Checked when present, never a feature.
    "amount": Column("float", 0.0, 50_000.0, required=False),
}
FEATURES = [name for name, column in COLUMNS.items() if column.required and name != LABEL]
PUBLIC_COLUMNS = [name for name, column in COLUMNS.items() if column.required]

_BOM = b"\xef\xbb\xbf"
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
_WORDS = {"true": 1.0, "false": 0.0}


class ContractError(ValueError):
    """The data breaks the contract; the message is one line saying what and how to fix it."""


def as_parameter() -> dict:
    """The contract as a JSON-serialisable pipeline parameter."""
    return {
        "label": LABEL,
        # Column order of the model's input (a Struct keeps no key order; a list does).
        "features": FEATURES,
        "columns": {
            name: {"type": c.kind, "min": c.low, "max": c.high, "required": c.required} for name, c in COLUMNS.items()
        },
        "allow_extra_columns": False,
    }


def read(path: str | Path) -> tuple[list[list[str]], list[str]]:
    """The file's rows as strings (header first) and notes on what was tolerated; raises :class:`ContractError`."""
    body = Path(path).read_bytes()
    notes = []
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ContractError("the file is UTF-16 encoded; save it as UTF-8 (comma-separated)")
    if body.startswith(_BOM):
        body = body[len(_BOM):]
        notes.append("the file starts with a UTF-8 byte-order mark (BOM); it was ignored")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ContractError(f"the file is not UTF-8 (byte {error.start}); save it as UTF-8") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise ContractError("the file is empty; it needs a header row and data rows")
    header = [name.strip() for name in rows[0]]
    if len(header) == 1:
        for delimiter, word in _OTHER_DELIMITERS.items():
            if delimiter in header[0]:
                raise ContractError(
                    f"the header is one column holding {word}s ({header[0][:60]!r}...): the file looks "
                    f"{word}-delimited; the contract reads comma-separated values, so re-export it with ','"
                )
    seen: dict[str, list[int]] = {}
    for position, name in enumerate(header, start=1):
        seen.setdefault(name, []).append(position)
    repeated = {name: places for name, places in seen.items() if len(places) > 1}
    if repeated:
        name, places = next(iter(repeated.items()))
        raise ContractError(f"column {name!r} appears {len(places)} times in the header (positions {places}); keep one")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ContractError(f"line {number} has {len(row)} fields, the header has {len(header)}")
    return [header, *rows[1:]], notes


def _binary(name: str, values: list[str]) -> list[int]:
    out = []
    for value in values:
        word = value.strip().lower()
        try:
            number = float(word) if word not in _WORDS else _WORDS[word]
        except ValueError:
            number = None
        if number not in (0.0, 1.0):
            raise ContractError(f"column {name!r} must be 0/1 (any numeric spelling, e.g. 1, 1.0, 1.000000; or true/false), found {value!r}")
        out.append(int(number))
    return out


def _float(name: str, values: list[str]) -> list[float]:
    out = []
    for value in values:
        try:
            out.append(float(value))
        except ValueError:
            raise ContractError(f"column {name!r} must be a number, found non-numeric value {value!r}") from None
    return out


def check(rows: list[list[str]], contract: dict, min_rows: int, min_positives: int, max_null_fraction: float) -> dict[str, list]:
    """The contract's columns, typed (binary as int 0/1), from :func:`read`'s rows; raises :class:`ContractError`."""
    header, data = rows[0], rows[1:]
    columns, label = contract["columns"], contract["label"]
    _check_header(header, contract, len(data), min_rows)
    typed: dict[str, list] = {}
    for name, rule in columns.items():
        if name not in header:
            continue
        index = header.index(name)
        raw = [row[index].strip() for row in data]
        present = [value for value in raw if value != ""]
        _check_nulls(name, len(raw) - len(present), len(raw), max_null_fraction)
        values = _binary(name, present) if rule["type"] == "binary" else _float(name, present)
        # A column left wholly empty (only where max_null_fraction allows it) has no range to check.
        if values:
            _check_range(name, rule, min(values), max(values))
        if len(present) != len(raw):  # nulls allowed by max_null_fraction stay missing
            it = iter(values)
            values = [next(it) if value != "" else None for value in raw]
        typed[name] = values
    positives = sum(1 for value in typed[label] if value == 1)
    negatives = sum(1 for value in typed[label] if value == 0)
    distinct = {name: {value for value in typed.get(name, []) if value is not None} for name in contract["features"]}
    _check_classes_and_signal(contract, min_positives, positives, negatives,
                              {name: values.pop() for name, values in distinct.items() if len(values) == 1})
    return typed


# The rules both readers apply (check above, on strings; load below, on Arrow's columns): one wording each.
def _check_header(header: list[str], contract: dict, rows: int, min_rows: int) -> None:
    columns, label = contract["columns"], contract["label"]
    if label not in header:
        raise ContractError(f"label column {label!r} is missing; the data must carry the label to train on (found {header})")
    missing = [name for name, rule in columns.items() if rule.get("required", True) and name not in header]
    if missing:
        raise ContractError(f"missing columns {missing}; the contract requires {[n for n, r in columns.items() if r.get('required', True)]}")
    extra = [name for name in header if name not in columns]
    if extra and not contract.get("allow_extra_columns", False):
        raise ContractError(f"unknown columns {extra}; remove them or declare them in the data contract")
    if rows < min_rows:
        raise ContractError(f"{rows} rows, fewer than the minimum of {min_rows}")


def _check_nulls(name: str, empty: int, rows: int, max_null_fraction: float) -> None:
    share = empty / rows if rows else 0.0
    if share > max_null_fraction:
        raise ContractError(f"column {name!r} is {share:.1%} empty, above the limit of {max_null_fraction:.1%}")


def _check_range(name: str, rule: dict, low: float, high: float) -> None:
    if low < rule["min"] or high > rule["max"]:
        raise ContractError(f"column {name!r} ranges over [{low}, {high}], outside the contract's [{rule['min']}, {rule['max']}]")


def _check_classes_and_signal(contract: dict, min_positives: int, positives: int, negatives: int, constant: dict) -> None:
    """Enough rows of each class; no feature with one value in every row (``constant``: name -> its one value)."""
    label = contract["label"]
    if positives < min_positives:
        raise ContractError(f"{positives} positive ({label!r} = 1) rows, fewer than the minimum of {min_positives}")
    if negatives < min_positives:
        raise ContractError(f"{negatives} negative ({label!r} = 0) rows, fewer than the minimum of {min_positives}")
    # A feature with one value in every row carries no signal (a stuck upstream field, a default filled in): training
    # would run and learn nothing from it, silently. Refuse it by name.
    for name in contract["features"]:
        if name in constant:
            raise ContractError(f"feature column {name!r} is constant ({constant[name]} in every row): it carries no signal; "
                                "check the export that produced it, or drop it from the contract's features")


def load(path: str | Path, contract: dict, min_rows: int, min_positives: int, max_null_fraction: float):
    """The file as a typed DataFrame (the contract's columns; binary as int 0/1) and notes; raises :class:`ContractError`.

    What :func:`read` and :func:`check` accept and refuse, at columnar speed: Arrow's CSV reader parses the
    contract's columns as numbers and the rules run on whole columns. A file Arrow cannot read that way (a
    ragged line, a repeated or padded header name, ``true``/``false``, a binary value other than 0/1, ``nan``,
    bytes that are not UTF-8) goes through :func:`read` and :func:`check`, whose line names what is wrong.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as arrow_csv

    def exact() -> tuple[pd.DataFrame, list[str]]:
        rows, notes = read(path)
        return pd.DataFrame(check(rows, contract, min_rows, min_positives, max_null_fraction)), notes

    with open(path, "rb") as handle:
        start = handle.read(4)
    if not start or start.startswith((b"\xff\xfe", b"\xfe\xff")):
        return exact()
    notes = ["the file starts with a UTF-8 byte-order mark (BOM); it was ignored"] if start.startswith(_BOM) else []
    columns = contract["columns"]
    try:
        table = arrow_csv.read_csv(
            path,
            convert_options=arrow_csv.ConvertOptions(
                column_types={name: pa.float64() for name in columns}, null_values=[""], strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return exact()
    header = table.column_names
    if len(set(header)) != len(header) or any(name != name.strip() for name in header) or len(header) == 1:
        return exact()
    _check_header(header, contract, table.num_rows, min_rows)
    frame, constant = {}, {}
    for name, rule in columns.items():
        if name not in header:
            continue
        column = table.column(name)
        if pc.any(pc.is_nan(column)).as_py() or (
            rule["type"] == "binary" and pc.any(pc.invert(pc.is_in(column, pa.array([0.0, 1.0])))).as_py()
        ):
            return exact()  # read and check name the value as the file spells it
        _check_nulls(name, column.null_count, table.num_rows, max_null_fraction)
        if column.null_count < table.num_rows:
            bounds = pc.min_max(column)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            _check_range(name, rule, low, high)
            if low == high:
                constant[name] = int(low) if rule["type"] == "binary" else low
        values = column.to_numpy()
        frame[name] = values.astype(np.int64) if rule["type"] == "binary" and not column.null_count else values
    label = frame[contract["label"]]
    positives = int(np.count_nonzero(label == 1))
    _check_classes_and_signal(contract, min_positives, positives, int(np.count_nonzero(label == 0)), constant)
    return pd.DataFrame(frame), notes
