"""The data contract (pipelines/fraud/contract.py): the public data set's schema, and plain refusals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kfp import dsl

from pipelines.fraud import components, contract, frames
from pipelines.fraud.data import generate

# The header of the public card-fraud data set (card_transdata.csv) and two of its rows, as the file spells them.
PUBLIC_HEADER = ("distance_from_home,distance_from_last_transaction,ratio_to_median_purchase_price,"
                 "repeat_retailer,used_chip,used_pin_number,online_order,fraud")
PUBLIC_ROWS = ["57.877856720108964,0.3111400080477545,1.9459399775518595,1.0,1.0,0.0,0.0,0.0",
               "10.829942699255545,0.17559150228166587,1.2942188106198573,1.0,0.0,0.0,0.0,1.0"]
# A third row in the same spelling whose binaries differ from both: no feature is constant in the three.
ROWS = [*PUBLIC_ROWS, "3.5,12.25,0.8,0.0,1.0,1.0,1.0,0.0"]


def _check(path: Path, **limits) -> dict:
    rows, _ = contract.read(path)
    return contract.check(rows, contract.as_parameter(), **{"min_rows": 2, "min_positives": 1, "max_null_fraction": 0.0, **limits})


def test_the_public_data_sets_columns_and_spelling_are_accepted(tmp_path: Path) -> None:
    """Exactly the public file's columns, with its 0.0/1.0 binaries and label, pass and become integers."""
    path = tmp_path / "card_transdata.csv"
    path.write_text("\n".join([PUBLIC_HEADER, *ROWS]) + "\n")
    columns = _check(path)
    assert list(columns) == PUBLIC_HEADER.split(",")
    assert columns["fraud"] == [0, 1, 0] and columns["used_chip"] == [1, 0, 1]
    assert contract.FEATURES == PUBLIC_HEADER.split(",")[:-1]


def test_generator_writes_the_public_schema_and_spelling(tmp_path: Path) -> None:
    """The synthetic generator writes exactly the public data set's columns, binaries and label as 0.0/1.0."""
    path = tmp_path / "fraud.csv"
    generate(100).to_csv(path, index=False)
    header, first = path.read_text().splitlines()[:2]
    assert header == PUBLIC_HEADER
    assert all(value in ("0.0", "1.0") for value in first.split(",")[3:])


def test_optional_amount_is_checked_when_present_and_is_no_feature(tmp_path: Path) -> None:
    """`amount` is declared optional: accepted in range, refused out of range, never a model feature."""
    frame = generate(50, seed=2)
    frame["amount"] = 12.5
    frame.to_csv(tmp_path / "ok.csv", index=False)
    assert _check(tmp_path / "ok.csv")["amount"][0] == 12.5
    frame.loc[3, "amount"] = -1.0
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(contract.ContractError, match=r"column 'amount' ranges over \[-1.0"):
        _check(tmp_path / "bad.csv")
    assert "amount" not in contract.FEATURES


@pytest.mark.parametrize(("spelling", "expected"), [(("true", "false", "false"), [1, 0, 0]), (("TRUE", "False", "FALSE"), [1, 0, 0]),
                                                     (("1", "0", "0"), [1, 0, 0]), (("1.000000", "0.000000", "0.0"), [1, 0, 0]),
                                                     (("1e0", "0e0", "0"), [1, 0, 0])])
def test_true_false_labels_are_accepted_as_integers(tmp_path: Path, spelling: tuple, expected: list) -> None:
    """true/false (any case) and every numeric spelling of 1/0 (1.000000 as common tools write floats) are read as 1/0."""
    rows = [row.rsplit(",", 1)[0] + "," + value for row, value in zip(ROWS, spelling, strict=True)]
    (tmp_path / "d.csv").write_text("\n".join([PUBLIC_HEADER, *rows]) + "\n")
    assert _check(tmp_path / "d.csv", min_positives=1)["fraud"] == expected


def test_bom_is_ignored_and_reported(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark (Excel's CSV export) does not rename the first column; a note says so."""
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join([PUBLIC_HEADER, *PUBLIC_ROWS]).encode())
    rows, notes = contract.read(path)
    assert rows[0][0] == "distance_from_home"
    assert notes == ["the file starts with a UTF-8 byte-order mark (BOM); it was ignored"]


BAD_FILES = {
    "semicolons": (PUBLIC_HEADER.replace(",", ";") + "\n" + PUBLIC_ROWS[0].replace(",", ";") + "\n",
                   "the file looks semicolon-delimited; the contract reads comma-separated values"),
    "tabs": (PUBLIC_HEADER.replace(",", "\t") + "\n", "the file looks tab-delimited"),
    "duplicated": (PUBLIC_HEADER + ",used_chip\n" + PUBLIC_ROWS[0] + ",1.0\n",
                   "column 'used_chip' appears 2 times in the header (positions [5, 9]); keep one"),
    "label 2": (PUBLIC_HEADER + "\n" + PUBLIC_ROWS[0][:-3] + "2.0\n" + PUBLIC_ROWS[1] + "\n",
                "column 'fraud' must be 0/1 (any numeric spelling, e.g. 1, 1.0, 1.000000; or true/false), found '2.0'"),
    "label 0.5": (PUBLIC_HEADER + "\n" + PUBLIC_ROWS[0][:-3] + "0.500000\n" + PUBLIC_ROWS[1] + "\n", "found '0.500000'"),
    "label nan": (PUBLIC_HEADER + "\n" + PUBLIC_ROWS[0][:-3] + "nan\n" + PUBLIC_ROWS[1] + "\n", "found 'nan'"),
    "label yes": (PUBLIC_HEADER + "\n" + PUBLIC_ROWS[0][:-3] + "yes\n" + PUBLIC_ROWS[1] + "\n", "found 'yes'"),
    "ragged": (PUBLIC_HEADER + "\n" + PUBLIC_ROWS[0] + ",9\n", "line 2 has 9 fields, the header has 8"),
    "empty": ("", "the file is empty"),
    "missing label": (PUBLIC_HEADER.rsplit(",", 1)[0] + "\n" + PUBLIC_ROWS[0].rsplit(",", 1)[0] + "\n", "label column 'fraud' is missing"),
    "missing feature": (PUBLIC_HEADER.replace("used_chip,", "") + "\n", "missing columns ['used_chip']"),
    "unknown column": (PUBLIC_HEADER + ",customer_email\n" + PUBLIC_ROWS[0] + ",a@b.c\n", "unknown columns ['customer_email']"),
    "not a number": (PUBLIC_HEADER + "\n" + "far," + PUBLIC_ROWS[0].split(",", 1)[1] + "\n",
                     "column 'distance_from_home' must be a number, found non-numeric value 'far'"),
    "out of range": (PUBLIC_HEADER + "\n-3," + PUBLIC_ROWS[0].split(",", 1)[1] + "\n" + PUBLIC_ROWS[1] + "\n",
                     "column 'distance_from_home' ranges over [-3.0,"),
    "null beyond limit": (PUBLIC_HEADER + "\n," + PUBLIC_ROWS[0].split(",", 1)[1] + "\n" + PUBLIC_ROWS[1] + "\n",
                          "column 'distance_from_home' is 50.0% empty, above the limit of 0.0%"),
    "no positives": (PUBLIC_HEADER + "\n" + PUBLIC_ROWS[0] + "\n" + PUBLIC_ROWS[0] + "\n",
                     "0 positive ('fraud' = 1) rows, fewer than the minimum of 1"),
    # The two public rows share repeat_retailer = 1.0 (and used_pin_number, online_order = 0.0).
    "constant feature": (PUBLIC_HEADER + "\n" + "\n".join(PUBLIC_ROWS) + "\n",
                         "feature column 'repeat_retailer' is constant (1 in every row): it carries no signal"),
}


@pytest.mark.parametrize("reader", ["reference", "columnar"])
@pytest.mark.parametrize(("name", "message"), [(name, message) for name, (_, message) in BAD_FILES.items()])
def test_bad_files_are_refused_with_one_plain_line(tmp_path: Path, name: str, message: str, reader: str) -> None:
    """Each kind of bad file is refused with one line that names the problem, by the reference reader (read + check)
    and by the columnar one validate runs (contract.load, Arrow) alike."""
    path = tmp_path / "bad.csv"
    path.write_text(BAD_FILES[name][0])
    with pytest.raises(contract.ContractError) as refusal:
        (_check if reader == "reference" else _load)(path, min_rows=1)
    assert message in str(refusal.value) and "\n" not in str(refusal.value), str(refusal.value)


def test_an_optional_column_left_empty_is_no_crash(tmp_path: Path) -> None:
    """Where max_null_fraction allows it, a wholly empty optional column passes with its values missing."""
    rows = [row + "," for row in ROWS]
    (tmp_path / "d.csv").write_text("\n".join([PUBLIC_HEADER + ",amount", *rows]) + "\n")
    assert _check(tmp_path / "d.csv", max_null_fraction=1.0)["amount"] == [None, None, None]


def test_utf16_is_refused(tmp_path: Path) -> None:
    """A UTF-16 file (another spreadsheet export) is refused, saying which encoding to use."""
    path = tmp_path / "u16.csv"
    path.write_bytes(PUBLIC_HEADER.encode("utf-16"))
    with pytest.raises(contract.ContractError, match="UTF-16 encoded; save it as UTF-8"):
        contract.read(path)


def test_validate_step_writes_typed_columns(tmp_path: Path) -> None:
    """The validate step writes the contract's columns with 0/1 integers, whatever the file's spelling."""
    raw = tmp_path / "raw.csv"
    frame = generate(3000, seed=5)
    frame[contract.LABEL] = frame[contract.LABEL].map({0: "false", 1: "true"})
    frame.to_csv(raw, index=False)
    train, test = dsl.Dataset(uri=str(tmp_path / "train.csv")), dsl.Dataset(uri=str(tmp_path / "test.csv"))
    components.validate.python_func(raw=dsl.Dataset(uri=str(raw)), contract=contract.as_parameter(), min_rows=1000,
                                    min_positives=20, max_null_fraction=0.0, test_fraction=0.2, seed=1, train=train, test=test)
    written = pd.concat([frames.read(train.path), frames.read(test.path)])
    assert Path(train.path).read_bytes()[:4] == frames.PARQUET_MAGIC, "the step hands Parquet to train and evaluate"
    assert set(written[contract.LABEL].unique()) == {0, 1} and written[contract.LABEL].dtype.kind == "i"
    assert (train.metadata["rows"], test.metadata["rows"]) == (2400, 600)
    # Stratified: both parts keep the fraud rate.
    assert abs(train.metadata["positive_rate"] - test.metadata["positive_rate"]) < 0.01


def _load(path: Path, **limits) -> dict:
    frame, _ = contract.load(path, contract.as_parameter(), **{"min_rows": 2, "min_positives": 1, "max_null_fraction": 0.0, **limits})
    return {name: [None if value != value else value for value in frame[name].tolist()] for name in frame.columns}


@pytest.mark.parametrize("spelling", [("true", "false", "false"), ("1.000000", "0.000000", "0.0"), ("1e0", "0e0", "0"), (" 1", "0 ", "0")])
def test_the_columnar_reader_types_like_the_reference(tmp_path: Path, spelling: tuple) -> None:
    """contract.load returns the same typed columns as read + check, binaries as integers, for every accepted spelling."""
    rows = [row.rsplit(",", 1)[0] + "," + value for row, value in zip(ROWS, spelling, strict=True)]
    (tmp_path / "d.csv").write_text("\n".join([PUBLIC_HEADER, *rows]) + "\n")
    assert _load(tmp_path / "d.csv") == _check(tmp_path / "d.csv")
    frame, _ = contract.load(tmp_path / "d.csv", contract.as_parameter(), min_rows=2, min_positives=1, max_null_fraction=0.0)
    assert frame[contract.LABEL].dtype.kind == "i"


def test_the_columnar_reader_keeps_notes_and_allowed_nulls(tmp_path: Path) -> None:
    """contract.load reports a BOM as read does and keeps a null-allowed empty optional column missing, as check does."""
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join([PUBLIC_HEADER + ",amount", *(row + "," for row in ROWS)]).encode())
    frame, notes = contract.load(path, contract.as_parameter(), min_rows=2, min_positives=1, max_null_fraction=1.0)
    assert notes == contract.read(path)[1] and list(frame.columns) == [*PUBLIC_HEADER.split(","), "amount"]
    assert _load(path, max_null_fraction=1.0) == _check(path, max_null_fraction=1.0)


def test_the_columnar_reader_agrees_on_generated_data(tmp_path: Path) -> None:
    """On a generated file contract.load and read + check give the same values (floats exactly as written)."""
    generate(2000, seed=3).to_csv(tmp_path / "g.csv", index=False)
    assert _load(tmp_path / "g.csv") == _check(tmp_path / "g.csv")
