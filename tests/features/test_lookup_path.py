"""The online lookup's fast path (issue 27's latency goal): the on-demand view computes a request without DataFrames,
a customer without history still reads as null, and `feast serve` keeps its worker (flags that exist at the pin)."""

from __future__ import annotations

import math

from feast.cli.serve import serve_command
from feast.on_demand_feature_view import OnDemandFeatureView

from pipelines.features import definitions, repo, transforms

ROW = {"amount": [120.0], "latitude": [40.0], "longitude": [-100.0], "median_purchase_amount": [60.0],
       "home_latitude": [40.0], "home_longitude": [-101.0], "last_latitude": [41.0], "last_longitude": [-100.0]}


def _view(tmp_path) -> OnDemandFeatureView:
    (view,) = [o for o in definitions.objects(str(tmp_path)) if isinstance(o, OnDemandFeatureView)]
    return view


def test_on_demand_view_computes_a_request_from_lists(tmp_path) -> None:
    """The request view runs in Feast's python mode: one row in as lists, plain floats out (no DataFrame per lookup)."""
    view = _view(tmp_path)
    assert view.mode == "python", f"{repo.REQUEST_VIEW} runs in {view.mode} mode; pandas mode builds DataFrames per lookup"
    out = view.feature_transformation.udf(ROW)
    assert set(out) == set(repo.DERIVED) and all(type(v) is list and type(v[0]) is float for v in out.values())
    assert out["ratio_to_median_purchase_price"] == [2.0]
    assert math.isclose(out["distance_from_home"][0], 85.2, abs_tol=0.1)  # one degree of longitude at 40 N
    assert math.isclose(out["distance_from_last_transaction"][0], 111.2, abs_tol=0.1)  # one degree of latitude


def test_a_customer_without_history_reads_as_null(tmp_path) -> None:
    """Missing aggregates (no history) give None, which the server answers as null and the transformer as 404."""
    out = _view(tmp_path).feature_transformation.udf({**ROW, **{k: [None] for k in ROW if k not in repo.REQUEST_FIELDS}})
    assert out == {name: [None] for name in repo.DERIVED}
    frame = transforms.transaction_features(ROW | {"median_purchase_amount": [float("nan")]})
    assert frame["ratio_to_median_purchase_price"] == [None]


def test_feature_server_flags_exist_and_keep_its_worker() -> None:
    """`feast serve` at the pin knows every flag we pass, and its worker is never recycled mid-traffic."""
    command = repo.server_command()
    known = {option for param in serve_command.params for option in param.opts}
    assert not [f for f in command[2:] if f.startswith("-") and f not in known], known
    assert command[command.index("--max-requests") + 1] == "0"
    assert "--no-access-log" in command
