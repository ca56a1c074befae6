"""Canary, promote and roll back in Standard mode: the chart README's `helm upgrade` steps, each
rendered with the real helm and checked against KServe v0.20.0's CRD schema and its webhook's rules."""

from __future__ import annotations

import re
import shlex

import jsonschema
import pytest

from tests.charts import kserve_webhook
from tests.charts.conftest import CHART, by_kind, render

INSTALL = ("model.storageUri=s3://bucket/mlflow/1/old-run/artifacts/model", "predictor.name=v1", "autoscaling.minReplicas=4", "autoscaling.maxReplicas=8")


def readme_steps() -> dict[str, tuple[str, ...]]:
    """The README's canary steps: the comment's number -> the `--set` items of its helm upgrade."""
    readme = (CHART / "README.md").read_text()
    block = readme.split("<!-- canary-steps:start -->", 1)[1].split("<!-- canary-steps:end -->", 1)[0]
    steps, label = {}, ""
    for line in block.splitlines():
        if match := re.match(r"# (\d[ab]?)\. ", line):
            label = match.group(1)
        elif line.startswith("helm upgrade"):
            words = shlex.split(line)
            assert "--reuse-values" in words, line
            steps[label] = tuple(words[i + 1] for i, word in enumerate(words) if word == "--set")
    return steps


def isvc_after(*steps: tuple[str, ...]) -> dict:
    """The InferenceService after install and ``steps`` (later --set wins, as --reuse-values does)."""
    sets = INSTALL + tuple(item for step in steps for item in step)
    (isvc,) = by_kind(render(sets=sets), "InferenceService")
    return isvc


@pytest.fixture(scope="module")
def steps() -> dict[str, tuple[str, ...]]:
    found = readme_steps()
    assert set(found) == {"1", "2", "3a", "3b"}, found
    return found


@pytest.fixture(scope="module")
def states(steps: dict[str, tuple[str, ...]]) -> dict[str, dict]:
    """The InferenceService at each point of the rollout."""
    return {
        "installed": isvc_after(),
        "canary": isvc_after(steps["1"]),
        "shifted": isvc_after(steps["1"], steps["2"]),
        "promoted": isvc_after(steps["1"], steps["2"], steps["3a"]),
        "rolled-back": isvc_after(steps["1"], steps["2"], steps["3b"]),
    }


def test_every_step_validates_against_the_crd_and_the_webhook(states: dict[str, dict], isvc_schema: dict) -> None:
    """Each state is admitted: the CRD schema (strict) and the webhook's canary and mode rules."""
    validator = jsonschema.Draft202012Validator(isvc_schema)
    previous = None
    for state, isvc in states.items():
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(isvc)]
        assert errors == [], state
        assert kserve_webhook.canary_errors(isvc) == [], state
        if previous is not None:
            assert kserve_webhook.mode_change_error(previous, isvc) is None, state
        previous = isvc


def test_the_rollout_does_what_the_readme_says(states: dict[str, dict]) -> None:
    """10 % then 50 % to v2 with its own model; promotion renames the stable predictor to v2; rollback leaves v1."""
    new_model = "s3://bucket/mlflow/1/models/m-0123456789abcdef0123456789abcdef/artifacts"
    assert "canary" not in states["installed"]["spec"]
    for state, percent, replicas in (("canary", 10, 1), ("shifted", 50, 2)):
        isvc = states[state]
        (canary,) = isvc["spec"]["canary"]
        assert (canary["predictor"]["name"], canary["trafficPercent"]) == ("v2", percent)
        assert canary["predictor"]["model"]["storageUri"] == new_model
        assert isvc["spec"]["predictor"]["name"] == "v1"
        assert kserve_webhook.canary_replicas(isvc, canary) == replicas, state
    promoted = states["promoted"]["spec"]
    assert "canary" not in promoted
    # KServe keeps the canary's Deployment as the new stable one when the names match (no new rollout).
    assert (promoted["predictor"]["name"], promoted["predictor"]["model"]["storageUri"]) == ("v2", new_model)
    rolled_back = states["rolled-back"]["spec"]
    assert "canary" not in rolled_back
    assert rolled_back["predictor"] == states["installed"]["spec"]["predictor"]


def test_the_webhook_rules_refuse_what_kserve_refuses(states: dict[str, dict]) -> None:
    """The ported rules are not vacuous: each refuses its case."""
    import copy

    base = states["canary"]
    cases = {
        "Knative mode": lambda i: i["metadata"]["annotations"].update({kserve_webhook.MODE: "Knative"}),
        "conflicts with stable": lambda i: i["spec"]["predictor"].update({"name": "v2"}),
        "is duplicated": lambda i: i["spec"]["canary"].append(copy.deepcopy(i["spec"]["canary"][0])),
        "must be <= 100": lambda i: i["spec"]["canary"].append(
            {"trafficPercent": 95, "predictor": {"name": "v3", "model": i["spec"]["canary"][0]["predictor"]["model"]}}
        ),
        "fixed replicas": lambda i: i["spec"]["canary"][0]["predictor"].update({"maxReplicas": 3}),
    }
    for expected, mutate in cases.items():
        isvc = copy.deepcopy(base)
        mutate(isvc)
        assert any(expected.split()[-1] in error for error in kserve_webhook.canary_errors(isvc)), expected
    changed = copy.deepcopy(base)
    changed["metadata"]["annotations"][kserve_webhook.MODE] = "Knative"
    assert "cannot be changed" in kserve_webhook.mode_change_error(base, changed)


CANARY = ("canary.name=v2", "canary.storageUri=s3://bucket/mlflow/1/models/m-0123456789abcdef0123456789abcdef/artifacts", "autoscaling.maxReplicas=20")


def _notes(*sets: str) -> str:
    from tests.charts.conftest import helm

    args = ["install", "fraud", str(CHART), "-n", "models", "--dry-run=client", "-f", str(CHART / "ci" / "canary-values.yaml")]
    for item in ("autoscaling.maxReplicas=20", *sets):
        args += ["--set", item]
    return helm(*args).stdout.split("NOTES:", 1)[1]


@pytest.mark.parametrize(("min_replicas", "percent"), [(1, 10), (4, 10), (7, 10), (10, 10), (2, 50), (4, 30), (3, 0)])
def test_notes_warn_when_the_canarys_real_share_misses_traffic_percent(min_replicas: int, percent: int) -> None:
    """NOTES warns with KServe's real replica share when it is more than canary.tolerancePercent from trafficPercent, and not otherwise."""
    notes = _notes(f"autoscaling.minReplicas={min_replicas}", f"canary.trafficPercent={percent}")
    isvc = isvc_after(CANARY + (f"autoscaling.minReplicas={min_replicas}", f"canary.trafficPercent={percent}"))
    (canary,) = isvc["spec"]["canary"]
    replicas = kserve_webhook.canary_replicas(isvc, canary)
    share = round(100 * replicas / (replicas + max(min_replicas - replicas, 1))) if replicas else 0
    warned = re.search(r"WARNING: the canary gets about (\d+)% of the requests, not (\d+)%", notes)
    if abs(share - percent) > 5:
        assert warned and (int(warned.group(1)), int(warned.group(2))) == (share, percent), notes
        fit = int(re.search(r"The smallest autoscaling.minReplicas that keeps .* is (\d+)", notes).group(1))
        fitted = isvc_after(CANARY + (f"autoscaling.minReplicas={fit}", f"canary.trafficPercent={percent}"))
        at_fit = kserve_webhook.canary_replicas(fitted, fitted["spec"]["canary"][0])
        assert abs(100 * at_fit / (at_fit + max(fit - at_fit, 1)) - percent) <= 5.5, fit
    else:
        assert warned is None, notes
