"""The chart's validation and the stack config's refuse the same serving values.

Each case is one change of the serving settings. The config must refuse it (one line), and the chart
must refuse the values the program would give it for that change (infra/components/model_serving.py,
applied to settings that skipped validation): a stack file cannot smuggle past one what the other stops.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic.alias_generators import to_camel

from infra import config, flows, object_store
from infra.components.model_serving import serving_values
from tests.charts.conftest import CHART, helm
from tooling import offline

CANARY_URI = "s3://mlp-staging-artifacts-123456789012/mlflow/1/models/m-canary/artifacts"
KNATIVE = {"serving_deployment_mode": "Knative", "kserve_deployment_mode": "Knative"}
# case -> (the change of the serving settings, what the chart's refusal names)
CASES = {
    "min-above-max": ({"serving_min_replicas": 5, "serving_max_replicas": 2}, "is greater than autoscaling.maxReplicas"),
    "scale-to-zero-in-standard": ({"serving_min_replicas": 0}, "(scale to zero) needs deploymentMode Knative"),
    "canary-named-like-stable": ({"serving_predictor_name": "v1", "serving_canary_name": "v1", "serving_canary_storage_uri": CANARY_URI},
                                 "equals predictor.name"),
    "canary-without-its-model": ({"serving_predictor_name": "v1", "serving_canary_name": "v2"}, "canary.storageUri is required"),
    "canary-with-the-stable-model": ({"serving_predictor_name": "v1", "serving_canary_name": "v2", "serving_canary_storage_uri": "SAME"},
                                     "canary.storageUri equals model.storageUri"),
    "canary-in-knative": ({**KNATIVE, "serving_canary_name": "v2", "serving_canary_storage_uri": CANARY_URI},
                          "canary.name needs deploymentMode Standard"),
    "canary-over-100": ({"serving_predictor_name": "v1", "serving_canary_name": "v2", "serving_canary_storage_uri": CANARY_URI,
                         "serving_canary_percent": 120}, "/canary/trafficPercent"),
    "unsupported-model-scheme": ({"serving_storage_uri": "ftp://models/fraud"}, "at '/model/storageUri': 'ftp://models/fraud' does not match"),
    "gpu-scale-to-zero": ({**KNATIVE, "serving_gpu": True, "serving_min_replicas": 0}, "gpu.enabled with autoscaling.minReplicas 0"),
}


@pytest.fixture(scope="module")
def staging() -> config.Settings:
    return offline.settings_of("staging")[1]


def _changed(settings: config.Settings, update: dict) -> config.Settings:
    """``settings`` with flat snake-case changes applied, unvalidated (each to its group's sub-model)."""
    own, groups = {}, {}
    for key, value in update.items():
        flat = to_camel(key)
        group = next((g for g, keys in config.GROUPS.items() if flat in keys), None)
        if group is None:
            own[key] = value
        else:
            groups.setdefault(group, {})[config.GROUPS[group][flat]] = value
    nested = {group: getattr(settings, group).model_copy(update=fields) for group, fields in groups.items()}
    return settings.model_copy(update={**own, **nested})


def _render(settings: config.Settings, tmp_path: Path) -> tuple[int, str]:
    values = serving_values(settings, "arn:aws:iam::123456789012:role/serving", flows.chart_object_store(object_store.s3("us-east-1", None, None)),
                            "monitoring", "")
    path = tmp_path / "values.json"
    path.write_text(json.dumps(values))
    result = helm("template", "fraud", str(CHART), "--namespace", "models", "-f", str(path), check=False)
    return result.returncode, result.stderr


def test_the_stack_as_committed_passes_both(staging: config.Settings, tmp_path: Path) -> None:
    """The baseline: staging's serving settings are valid for the config and render with the chart."""
    code, stderr = _render(staging, tmp_path)
    assert code == 0, stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_refuse(case: str, staging: config.Settings, tmp_path: Path) -> None:
    """The config refuses the change, and the chart refuses the values the program would hand it."""
    change, refusal = CASES[case]
    update = {k: (staging.serving.storage_uri if v == "SAME" else v) for k, v in change.items()}
    with pytest.raises(config.ConfigError):
        offline.settings_of("staging", {to_camel(key): value for key, value in update.items()})
    code, stderr = _render(_changed(staging, update), tmp_path)
    assert code != 0, f"the chart renders {case}"
    assert refusal in stderr, stderr
