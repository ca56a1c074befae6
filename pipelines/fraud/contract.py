"""The data contract of the fraud training data: columns, types, ranges and label.

The pipeline's validate step receives this as a parameter, so the contract a
run used is recorded in the run itself.
"""

from __future__ import annotations

LABEL = "fraud"

# name -> (type, minimum, maximum); type "float" or "binary" (0/1).
COLUMNS: dict[str, tuple[str, float, float]] = {
    "amount": ("float", 0.0, 50_000.0),
    "distance_from_home": ("float", 0.0, 20_000.0),
    "distance_from_last_transaction": ("float", 0.0, 20_000.0),
    "ratio_to_median_purchase_price": ("float", 0.0, 500.0),
    "repeat_retailer": ("binary", 0, 1),
    "used_chip": ("binary", 0, 1),
    "used_pin_number": ("binary", 0, 1),
    "online_order": ("binary", 0, 1),
    LABEL: ("binary", 0, 1),
}
FEATURES = [name for name in COLUMNS if name != LABEL]
NUMERIC_FEATURES = [name for name, (kind, _, _) in COLUMNS.items() if kind == "float"]
BINARY_FEATURES = [name for name in FEATURES if name not in NUMERIC_FEATURES]


def as_parameter() -> dict:
    """The contract as a JSON-serialisable pipeline parameter."""
    return {
        "label": LABEL,
        # Column order of the model's input (a Struct keeps no key order; a list does).
        "features": FEATURES,
        "columns": {name: {"type": kind, "min": low, "max": high} for name, (kind, low, high) in COLUMNS.items()},
        "allow_extra_columns": False,
    }
