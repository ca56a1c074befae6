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
    if label not in header:
        raise ContractError(f"label column {label!r} is missing; the data must carry the label to train on (found {header})")
    missing = [name for name, rule in columns.items() if rule.get("required", True) and name not in header]
    if missing:
        raise ContractError(f"missing columns {missing}; the contract requires {[n for n, r in columns.items() if r.get('required', True)]}")
    extra = [name for name in header if name not in columns]
    if extra and not contract.get("allow_extra_columns", False):
        raise ContractError(f"unknown columns {extra}; remove them or declare them in the data contract")
    if len(data) < min_rows:
        raise ContractError(f"{len(data)} rows, fewer than the minimum of {min_rows}")
    typed: dict[str, list] = {}
    for name, rule in columns.items():
        if name not in header:
            continue
        index = header.index(name)
        raw = [row[index].strip() for row in data]
        present = [value for value in raw if value != ""]
        share = 1 - len(present) / len(raw)
        if share > max_null_fraction:
            raise ContractError(f"column {name!r} is {share:.1%} empty, above the limit of {max_null_fraction:.1%}")
        values = _binary(name, present) if rule["type"] == "binary" else _float(name, present)
        # A column left wholly empty (only where max_null_fraction allows it) has no range to check.
        low, high = (min(values), max(values)) if values else (rule["min"], rule["max"])
        if low < rule["min"] or high > rule["max"]:
            raise ContractError(f"column {name!r} ranges over [{low}, {high}], outside the contract's [{rule['min']}, {rule['max']}]")
        if len(present) != len(raw):  # nulls allowed by max_null_fraction stay missing
            it = iter(values)
            values = [next(it) if value != "" else None for value in raw]
        typed[name] = values
    positives = sum(1 for value in typed[label] if value == 1)
    negatives = sum(1 for value in typed[label] if value == 0)
    if positives < min_positives:
        raise ContractError(f"{positives} positive ({label!r} = 1) rows, fewer than the minimum of {min_positives}")
    if negatives < min_positives:
        raise ContractError(f"{negatives} negative ({label!r} = 0) rows, fewer than the minimum of {min_positives}")
    # A feature with one value in every row carries no signal (a stuck upstream field, a default filled in): training
    # would run and learn nothing from it, silently. Refuse it by name.
    for name in contract["features"]:
        present = {value for value in typed.get(name, []) if value is not None}
        if len(present) == 1:
            raise ContractError(f"feature column {name!r} is constant ({present.pop()} in every row): it carries no signal; "
                                "check the export that produced it, or drop it from the contract's features")
    return typed
