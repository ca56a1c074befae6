"""The platform's alert and recording rules, as the staging stack renders them, unit-tested with `promtool test rules`.

The rule tests are tests/rules/*.yaml; each runs against rules.yaml, which is written here from the rendered
PrometheusRules (the serving chart's, with the values the program passes, and any other the stack applies
outside kube-prometheus-stack's defaults, which are kubernetes-mixin's and tested there).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.rules.conftest import RULE_TESTS, prometheus_rules
from tooling import render

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
# A selector: metric{matchers}; a matcher's label name (equality and regex matches: a typo there selects nothing).
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|=)(?!=)")


@pytest.fixture(scope="module")
def rule_groups(staging_objects: list[render.Rendered]) -> list[dict]:
    """The platform's own rule groups in the staging stack."""
    own, _ = prometheus_rules(staging_objects)
    assert own, "the staging stack applies no PrometheusRule of its own (the serving chart's monitoring is off?)"
    return own


def _rules(groups: list[dict], kind: str) -> list[dict]:
    return [rule for group in groups for rule in group["rules"] if kind in rule]


def run_promtool(promtool: str, groups: list[dict], where: Path) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of every rule test file against ``groups`` written to rules.yaml beside them."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    for test in RULE_TESTS:
        shutil.copy(test, where / test.name)
    return subprocess.run([promtool, "test", "rules", *(test.name for test in RULE_TESTS)], cwd=where, capture_output=True,
                          text=True, timeout=120)


def test_promtool_passes_every_rule_test(promtool: str, rule_groups: list[dict], tmp_path: Path) -> None:
    """Each rule test (an alert that fires on a bad series, stays quiet on a healthy one) passes on the rendered rules."""
    result = run_promtool(promtool, rule_groups, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_and_stays_quiet_in_a_test(rule_groups: list[dict]) -> None:
    """Every shipped alert has a test where it fires and one where it stays quiet; every recording rule a query test."""
    fires: set[str] = set()
    quiet: set[str] = set()
    queried = ""
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test") or []:
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
            queried += " ".join(check["expr"] for check in case.get("promql_expr_test") or [])
    alerts = {rule["alert"] for rule in _rules(rule_groups, "alert")}
    assert alerts - fires == set(), f"alerts never fired by a test in tests/rules/: {sorted(alerts - fires)}"
    assert alerts - quiet == set(), f"alerts never shown quiet by a test in tests/rules/: {sorted(alerts - quiet)}"
    records = {rule["record"] for rule in _rules(rule_groups, "record")}
    assert {record for record in records if record not in queried} == set(), "recording rules with no promql_expr_test"


def mutations(expr: str) -> list[tuple[str, str]]:
    """(what was misspelt, the expression with it misspelt): each metric name and each matched label name, one at a time."""
    found = []
    for selector in SELECTOR.finditer(expr):
        metric = selector.group(1)
        found.append((f"metric {metric}", expr[:selector.start(1)] + metric[:-1] + expr[selector.end(1):]))
        for matcher in MATCHER.finditer(selector.group(2)):
            start = selector.start(2) + matcher.start(1)
            label = matcher.group(1)
            found.append((f"label {label} of {metric}", expr[:start] + label[:-1] + expr[start + len(label):]))
    return found


def test_a_misspelt_metric_or_label_fails_the_rule_tests(promtool: str, rule_groups: list[dict], tmp_path: Path) -> None:
    """A rule reading a misspelt metric or label (it selects nothing, so never fires) makes `promtool test rules` fail."""
    survivors = []
    count = 0
    for group_index, group in enumerate(rule_groups):
        for rule_index, rule in enumerate(group["rules"]):
            for what, expr in mutations(rule["expr"]):
                count += 1
                mutated = yaml.safe_load(yaml.safe_dump(rule_groups))
                mutated[group_index]["rules"][rule_index]["expr"] = expr
                result = run_promtool(promtool, mutated, tmp_path / f"m{count}")
                name = rule.get("alert") or rule.get("record")
                if result.returncode == 0:
                    survivors.append(f"{name}: {what}")
                else:
                    assert name in result.stdout + result.stderr, result.stdout
    assert count >= len(_rules(rule_groups, "alert")), "no selector found to misspell"
    assert survivors == [], f"misspellings no rule test notices: {survivors}"


def test_every_alert_has_a_summary_a_description_and_a_runbook_section(rule_groups: list[dict]) -> None:
    """Each alert says what is wrong (summary, description, severity) and the README's alert runbook says what to do."""
    runbook = README.split("### Alert runbook", 1)[1].split("\n## ", 1)[0] if "### Alert runbook" in README else ""
    for rule in _rules(rule_groups, "alert"):
        assert {"summary", "description"} <= set(rule.get("annotations") or {}), rule["alert"]
        assert rule.get("labels", {}).get("severity") in ("critical", "warning", "info"), rule["alert"]
        assert f"#### {rule['alert']}" in runbook, f"README's Alert runbook has no section #### {rule['alert']}"


def test_kube_prometheus_stack_default_rules_are_valid(promtool: str, staging_objects: list[render.Rendered], tmp_path: Path) -> None:
    """kube-prometheus-stack's default rules, as the program configures the chart, pass `promtool check rules`."""
    _, upstream = prometheus_rules(staging_objects)
    assert upstream, "kube-prometheus-stack renders no default rules"
    path = tmp_path / "upstream.yaml"
    path.write_text(yaml.safe_dump({"groups": upstream}, sort_keys=False))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
