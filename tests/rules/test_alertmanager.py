"""Alertmanager as each stack renders it: `amtool check-config` passes, severities reach their receivers, credentials
stay secrets (files of a Secret, never a value of the chart's configuration)."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from infra import alert_routing
from tests.conformance.conftest import upstream_or_skip
from tooling import offline, render

RELEASE = "kubernetes:helm.sh/v3:Release"
MONITORED = [stack for stack in offline.STACKS if offline.settings_of(stack)[1].monitoring]
SLACK_URL = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
ROUTING_KEY = "R0123456789abcdef0123456789abcde"
# staging with both credentials set as `pulumi config set --secret` stores them ({secure: ...} in the stack file).
WITH_SECRETS = {"alertCredentials": {"chat": {"secure": SLACK_URL}}}


def alertmanager_yaml(run: offline.OfflineRun) -> str:
    """The configuration kube-prometheus-stack renders into Alertmanager's Secret, for the values the program passes."""
    (release,) = [r for r in run.of_type(RELEASE) if r.name == "monitoring"]
    objects = render.render_release(release, upstream_or_skip())
    (secret,) = [o for o in objects if o["kind"] == "Secret" and "alertmanager.yaml" in (o.get("data") or {})]
    return base64.b64decode(secret["data"]["alertmanager.yaml"]).decode()


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each monitored stack's rendered Alertmanager configuration, written to a file."""
    folder = tmp_path_factory.mktemp("alertmanager")
    files = {}
    for stack in MONITORED:
        files[stack] = folder / f"{stack}.yaml"
        files[stack].write_text(alertmanager_yaml(offline.run(stack)))
    return files


@pytest.mark.parametrize("stack", MONITORED)
def test_amtool_check_config_passes(stack: str, amtool: str, configs: dict[str, Path]) -> None:
    """`amtool check-config` accepts the configuration the stack's Alertmanager would load."""
    result = subprocess.run([amtool, "check-config", str(configs[stack])], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_check_config_fails_on_a_broken_config(amtool: str, configs: dict[str, Path], tmp_path: Path) -> None:
    """The check can fail: a route to a receiver that is not declared is refused."""
    config = yaml.safe_load(configs["prod"].read_text())
    config["route"]["routes"].append({"receiver": "nobody", "matchers": ['severity = "critical"']})
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(config))
    result = subprocess.run([amtool, "check-config", str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "nobody" in result.stdout + result.stderr


# prod's receivers (stacks/Pulumi.prod.yaml): labels of an alert -> the receivers it reaches.
PROD_ROUTES = {
    "severity=critical alertname=ModelErrorRateHigh namespace=models": "pager,chat",
    "severity=warning alertname=ModelDriftHigh namespace=models": "chat",
    "severity=info alertname=KubeQuotaAlmostFull namespace=models": "team-mail",
    "severity=critical alertname=Watchdog": "null",
    "severity=none alertname=InfoInhibitor namespace=models": "null",
}


@pytest.mark.parametrize("labels", sorted(PROD_ROUTES))
def test_prod_routes_each_severity_to_its_receivers(labels: str, amtool: str, configs: dict[str, Path]) -> None:
    """Critical pages the on-call and tells the channel, warning goes to the channel, info by mail; Watchdog nowhere."""
    result = subprocess.run([amtool, "config", "routes", "test", f"--config.file={configs['prod']}",
                             f"--verify.receivers={PROD_ROUTES[labels]}", *labels.split()], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{labels}: {result.stdout.strip()} (expected {PROD_ROUTES[labels]})"


def test_critical_inhibits_warning_of_the_same_alert_and_namespace(configs: dict[str, Path]) -> None:
    """A critical alert silences the warning of the same alertname and namespace (not other namespaces')."""
    config = yaml.safe_load(configs["prod"].read_text())
    (rule,) = [r for r in config["inhibit_rules"] if r["source_matchers"] == ['severity = "critical"']]
    assert rule["target_matchers"] == ['severity =~ "warning|info"']
    assert sorted(rule["equal"]) == ["alertname", "namespace"]


def test_dev_has_no_receiver_and_says_so() -> None:
    """A stack with no receiver routes everything to null and says so in the preview's outputs."""
    run = offline.run("dev")
    assert run.settings.observability.receivers == ()
    assert "Alertmanager has no receiver: alerts reach no one" in run.outputs["alertRouting"]


def test_credentials_are_files_of_a_secret_never_values(tmp_path: Path, amtool: str) -> None:
    """A credential set with --secret reaches Alertmanager as a file of a Secret; the chart's values never hold it."""
    run = offline.run("staging", WITH_SECRETS)
    (release,) = [r for r in run.of_type(RELEASE) if r.name == "monitoring"]
    assert SLACK_URL not in json.dumps(release.inputs)
    config = yaml.safe_load(alertmanager_yaml(run))
    (chat,) = [r for r in config["receivers"] if r["name"] == "chat"]
    assert chat["slack_configs"][0]["api_url_file"] == f"{alert_routing.CREDENTIALS_DIR}/chat"
    assert release.inputs["values"]["alertmanager"]["alertmanagerSpec"]["secrets"] == [alert_routing.CREDENTIALS_SECRET]
    (secret,) = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == alert_routing.CREDENTIALS_SECRET]
    assert secret.inputs["stringData"]["chat"] == SLACK_URL
    assert "credential yet" not in run.outputs["alertRouting"]
