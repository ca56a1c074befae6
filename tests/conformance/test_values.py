"""Every value the program passes to a third-party chart is one the pinned chart reads.

Helm ignores a key the chart does not know, so a misspelt or renamed value silently does
nothing. A key counts as read when the chart's values.yaml declares it, when a template
names it (``.Values.<path>``), when a dependency's condition names it, or when it lies
under a value the templates pass on whole (``toYaml``/``range``/``with`` + ``toYaml .``:
free-form maps such as ``extraArgs`` or a securityContext).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tooling import offline, render


def _templates(chart: Path) -> str:
    # templates/, and files/ that templates render with `tpl` (KServe's charts).
    return "\n".join(
        p.read_text(errors="replace")
        for p in sorted(chart.rglob("*"))
        if p.suffix in (".yaml", ".tpl", ".txt") and {"templates", "files"} & set(p.relative_to(chart).parts)
    )


def _defaults(chart: Path) -> dict:
    """The chart's values.yaml with each present subchart's values.yaml under its name."""
    defaults = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    for sub in sorted((chart / "charts").glob("*/values.yaml")) if (chart / "charts").is_dir() else []:
        own = defaults.get(sub.parent.name)
        defaults[sub.parent.name] = {**(yaml.safe_load(sub.read_text()) or {}), **(own if isinstance(own, dict) else {})}
    return defaults


def _conditions(chart: Path) -> set[str]:
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    return {c.strip() for d in meta.get("dependencies") or [] for c in str(d.get("condition", "")).split(",") if c.strip()}


def unread_keys(values: dict, chart: Path) -> list[str]:
    """The dotted paths of ``values`` that ``chart`` never reads."""
    templates, conditions = _templates(chart), _conditions(chart)
    subcharts = {sub.name for sub in (chart / "charts").iterdir() if sub.is_dir()} if (chart / "charts").is_dir() else set()

    def referenced(path: str) -> bool:
        """A template reads ``.Values.<path>``; a subchart's own templates read its keys without its name in front."""
        head, _, rest = path.partition(".")
        return any(re.search(rf"\.Values\.{re.escape(ref)}\b", templates) for ref in (path, *((rest,) if head in subcharts and rest else ())))

    def passed_whole(path: str) -> bool:
        ref = re.escape(f".Values.{path}")
        return bool(re.search(rf"(toYaml|range [^:]*:=|toJson|tpl \(toYaml)\s*\(?\s*{ref}\b", templates)
                    or re.search(rf"with {ref}\s*-?\}}\}}[\s\S]{{0,200}}?toYaml \.", templates)
                    # `omit .Values.x "enabled" | toYaml`: the map passed on whole but for a switch (MinIO's contexts).
                    or re.search(rf"omit {ref}\b[^}}]*?\|\s*toYaml", templates)
                    # `range $k, $v := index .Values "grafana.ini"`: a map under a dotted key, rendered whole (a subchart's too).
                    or any(re.search(rf'range [^:]*:=\s*index \.Values "{re.escape(key)}"', templates)
                           for key in (path, path.partition(".")[2]) if key))

    def walk(value: Any, default: Any, path: str) -> list[str]:
        found = []
        for key, child in value.items():
            here = f"{path}.{key}" if path else key
            if here in conditions or passed_whole(here):
                continue
            known = isinstance(default, dict) and key in default
            if not known and not referenced(here):
                found.append(here)
                continue
            below = default.get(key) if isinstance(default, dict) else None
            if isinstance(child, dict) and isinstance(below, dict) and below:
                found += walk(child, below, here)
        return found

    return walk(values, _defaults(chart), "")


def test_every_chart_value_is_read_by_the_chart(stack: str, upstream: Path, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Every value each stack (and option variant) passes to a pinned chart is one the chart reads."""
    unread = {}
    for release in stack_runs[stack].of_type(render.RELEASE):
        chart = render.chart_dir(release, upstream)
        if keys := unread_keys(release.inputs.get("values") or {}, chart):
            unread[release.inputs["chart"]] = keys
    assert unread == {}, f"{stack}: values the pinned charts never read: {unread}"


def test_the_check_finds_a_misspelt_key(upstream: Path, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Not vacuous: a misspelt key and a key under a declared map are both reported."""
    (release,) = [r for r in stack_runs["staging"].of_type(render.RELEASE) if r.inputs["chart"].endswith("cert-manager")]
    chart = render.chart_dir(release, upstream)
    assert unread_keys({"replicaCoutn": 2, "webhook": {"replicaCount": 2, "nope": 1}}, chart) == ["replicaCoutn", "webhook.nope"]


def test_a_subcharts_commented_key_counts_when_its_templates_read_it(upstream: Path, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """kube-state-metrics' priorityClassName is only a comment in its values.yaml, read by its own template; a misspelling is not."""
    (release,) = [r for r in stack_runs["staging"].of_type(render.RELEASE) if r.inputs["chart"].endswith("kube-prometheus-stack")]
    chart = render.chart_dir(release, upstream)
    found = unread_keys({"kube-state-metrics": {"priorityClassName": "x", "priorityClasName": "x"}}, chart)
    assert found == ["kube-state-metrics.priorityClasName"]
