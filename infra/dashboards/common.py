"""What the platform's dashboards share: the datasource, selectors, a time-series panel, the JSON.

Every dashboard module builds its panels with these, through grafana-foundation-sdk's builders;
the Grafana JSON they produce is what the program provisions (infra/components/dashboards.py)
and what the demo's pictures query (demo/panels.py): one owner of each query.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import DataSourceRef

from infra.dashboards.promql import RATE_INTERVAL

# A datasource variable, as kube-prometheus-stack's own dashboards have: the Prometheus the sidecar provisions.
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")


def eq(label: str, value: str) -> str:
    """A matcher ``label="value"``."""
    return f'{label}="{value}"'


def regex(label: str, pattern: str) -> str:
    """A matcher ``label=~"pattern"``."""
    return f'{label}=~"{pattern}"'


def selector(metric: str, *matchers: str) -> str:
    """``metric{matcher, ...}``."""
    return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric


def rate(metric: str, *matchers: str) -> str:
    """The per-second rate of a counter over Grafana's rate window."""
    return f"rate({selector(metric, *matchers)}[{RATE_INTERVAL}])"


def panel(title: str, description: str, unit: str, queries: list[tuple[str, str]], width: int = 12) -> timeseries.Panel:
    """A time-series panel of ``queries`` ((expr, legend) pairs) on the Prometheus datasource."""
    built = (
        timeseries.Panel().title(title).description(description).unit(unit).datasource(DATASOURCE)
        .span(width).height(8).fill_opacity(10)
    )
    for index, (expr, legend) in enumerate(queries):
        built = built.with_target(
            prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index)).datasource(DATASOURCE)
        )
    return built


def build(uid: str, title: str, description: str, panels: list[timeseries.Panel]) -> dict[str, Any]:
    """The dashboard's Grafana JSON (what the sidecar loads from a ConfigMap)."""
    board = (
        dashboard.Dashboard(title).uid(uid).description(description).tags(["mlplatform"]).editable()
        .time("now-6h", "now").refresh("1m").timezone("browser")
        .with_variable(dashboard.DatasourceVariable(DATASOURCE_VARIABLE).label("Data source").type("prometheus"))
    )
    for item in panels:
        board = board.with_panel(item)
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))

