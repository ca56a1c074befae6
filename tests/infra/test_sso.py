"""The sign-in option (infra/config/sso.py, infra/sso.py, infra/components/sso.py): settings both ways, the one-line
errors for bad input, the secret never in clear, and the resource graph with the option on and off."""

from __future__ import annotations

import json

import pytest

from infra import config, sso
from infra.components import sso as sso_component
from tests.infra.conftest import SSO, VARIANTS
from tooling import offline

RELEASE = "kubernetes:helm.sh/v3:Release"
PLAIN = {**SSO, "ssoClientSecret": "s3cr3t-value"}


def settings_for(stack: str, **overrides: object) -> config.Settings:
    """The settings of ``stack`` with ``overrides`` (validation only: no secrecy check)."""
    return config.parse_settings(config.decode_config(offline.stack_config(stack, overrides)))


@pytest.mark.parametrize("stack", offline.STACKS)
def test_sso_is_off_in_every_committed_stack(stack: str) -> None:
    """Off by default: no committed stack signs people in yet (their UIs stay port-forward only)."""
    settings = settings_for(stack)
    assert not settings.sso.enabled
    assert sso.uis(settings) == ()


def test_sso_settings_carry_the_stack_file_keys() -> None:
    """The flat ssoX keys land in the sso group, the secret as a SecretStr that never prints."""
    settings = settings_for("staging", **PLAIN)
    assert settings.sso.domain == SSO["ssoDomain"] and settings.sso.client_id == SSO["ssoClientId"]
    assert settings.sso.client_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)
    assert [ui.name for ui in sso.uis(settings)] == ["kfp", "mlflow", "grafana"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({**PLAIN, "ssoDomain": ""}, r"mlplatform:ssoDomain = \"\": required with sso: true"),
        ({**PLAIN, "ssoCertificateArn": ""}, r"mlplatform:ssoCertificateArn = \"\": required with sso: true"),
        ({**PLAIN, "ssoIssuerUrl": "http://login.example.com"}, r"mlplatform:ssoIssuerUrl = .*not an OIDC issuer URL"),
        ({**PLAIN, "ssoClientId": ""}, r"mlplatform:ssoClientId = \"\": required"),
        ({**PLAIN, "ssoClientSecret": ""}, r"mlplatform:sso = true: give the OIDC client's secret once"),
        ({**PLAIN, "ssoClientSecretName": "sso-client"}, r"mlplatform:sso = true: give the OIDC client's secret once"),
        ({**PLAIN, "ssoAllowedCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, r"mlplatform:ssoAllowedCidrs = .*cover every address"),
        ({**PLAIN, "ssoEmailDomains": ["@example"]}, r"mlplatform:ssoEmailDomains = .*not an email domain"),
        ({**PLAIN, "ssoEmailDomains": []}, r"mlplatform:ssoEmailDomains = \[\]: no email domain"),
        ({**PLAIN, "ssoDomain": "UI_example"}, r"mlplatform:ssoDomain = .*not a DNS domain"),
        ({"ssoDomain": "ui.example.com"}, r"mlplatform:ssoDomain = \"ui.example.com\": set without sso: true"),
        ({"ssoClientSecret": "s3cr3t-value"}, r"mlplatform:ssoClientSecret = \"\[secret\]\": set without sso: true"),
    ],
)
def test_bad_sso_config_is_one_clear_line(overrides: dict, message: str) -> None:
    """Each bad sso setting is refused in one line naming the key and the fix, never echoing the secret."""
    with pytest.raises(config.ConfigError, match=message) as error:
        settings_for("staging", **overrides)
    assert "\n" not in str(error.value) and "s3cr3t-value" not in str(error.value)


def test_sso_needs_aws() -> None:
    """The local stack (no AWS, no ALB) refuses sso and points at port-forward."""
    with pytest.raises(config.ConfigError, match=r"mlplatform:sso = true: .*port-forward"):
        settings_for("local", **PLAIN)


def test_a_clear_text_client_secret_is_refused() -> None:
    """ssoClientSecret in clear text (not `pulumi config set --secret`) is refused before anything is declared."""
    with pytest.raises(config.ConfigError, match=r"mlplatform:ssoClientSecret: set in clear text; .*pulumi config set --secret"):
        offline.settings_of("staging", PLAIN)
    offline.settings_of("staging", SSO)  # the same value, given encrypted, passes


@pytest.fixture(scope="module")
def sso_run(stack_runs: dict[str, offline.OfflineRun]) -> offline.OfflineRun:
    """The staging+sso variant's graph."""
    return stack_runs["staging+sso"]


def test_sso_on_declares_a_proxy_per_ui_after_the_load_balancer_controller(sso_run: offline.OfflineRun) -> None:
    """On: one pinned oauth2-proxy release per UI (Argo CD's included with gitops), each after the ALB's controller
    (its webhook admits the Ingress; on destroy the Ingress and its ALB go first) and after the client Secret."""
    releases = {r.inputs["name"]: r for r in sso_run.of_type(RELEASE) if r.inputs["chart"] == "oauth2-proxy"}
    assert sorted(releases) == ["argocd-oauth2-proxy", "grafana-oauth2-proxy", "kfp-oauth2-proxy", "mlflow-oauth2-proxy"]
    component = next(r for r in sso_run.resources if r.type == "mlplatform:k8s:SingleSignOn")
    assert any(d.endswith("LoadBalancerController$kubernetes:helm.sh/v3:Release::aws-load-balancer-controller") for d in component.dependencies), component.urn
    secret = next(r for r in sso_run.resources if r.type == "kubernetes:core/v1:Secret" and r.name == "sso-client")
    for name, release in releases.items():
        assert release.inputs["version"] == "10.7.0" and release.inputs["namespace"] == "sso", name
        assert secret.urn in release.dependencies, f"{name} does not wait for its Secret"
        assert release.inputs["values"]["config"]["existingSecret"] == sso.CLIENT_SECRET, name
    assert sso_run.outputs["uiUrls"]["mlflow"] == f"https://mlflow.{SSO['ssoDomain']}"


def test_the_client_secret_is_a_secret_in_the_graph(sso_run: offline.OfflineRun) -> None:
    """The client secret reaches the graph only as a secret input of the Secret the proxies read, never in a value."""
    secret = next(r for r in sso_run.resources if r.type == "kubernetes:core/v1:Secret" and r.name == "sso-client")
    assert any(path.startswith("stringData") for path in secret.secret_paths), secret.secret_paths
    plain = SSO["ssoClientSecret"]["secure"]
    exposed = [r.urn for r in sso_run.resources if r is not secret and plain in json.dumps(r.inputs, default=str)]
    assert exposed == [], f"the client secret appears in {exposed}"


def test_ui_load_balancer_security_group_admits_https_from_the_vpc_only(sso_run: offline.OfflineRun) -> None:
    """The platform's security group of the UIs' ALB: 443 in from the VPC (ssoAllowedCidrs empty), out to the proxies only."""
    (group,) = [r for r in sso_run.of_type("aws:ec2/securityGroup:SecurityGroup") if r.name.endswith("-ui-alb")]
    vpc = sso_run.settings.network.vpc_cidr
    assert [(r["protocol"], r["fromPort"], r["toPort"], r["cidrBlocks"]) for r in group.inputs["ingress"]] == [("tcp", 443, 443, [vpc])]
    assert [(r["fromPort"], r["toPort"], r["cidrBlocks"]) for r in group.inputs["egress"]] == [(sso.PROXY_PORT, sso.PROXY_PORT, [vpc])]


def test_grafana_and_argocd_are_set_for_the_proxy_only_with_sso(sso_run: offline.OfflineRun,
                                                                 stack_runs: dict[str, offline.OfflineRun]) -> None:
    """With sso, Grafana takes the signed-in person from the proxy's header and Argo CD's server speaks HTTP to it;
    without, neither changes (the argocd variant keeps upstream's TLS server and Grafana its login form only)."""
    def values(run: offline.OfflineRun, chart: str) -> dict:
        return next(r for r in run.of_type(RELEASE) if r.inputs["chart"] == chart).inputs["values"]

    ini = values(sso_run, "kube-prometheus-stack")["grafana"]["grafana.ini"]
    assert ini["auth.proxy"]["header_name"] == sso.EMAIL_HEADER and ini["auth.proxy"]["header_property"] == "email"
    assert ini["server"]["root_url"] == f"https://grafana.{SSO['ssoDomain']}/"
    assert values(sso_run, "argo-cd")["configs"]["params"]["server.insecure"] is True
    plain = stack_runs["staging+argocd"]
    assert "grafana.ini" not in values(plain, "kube-prometheus-stack")["grafana"]
    assert "configs" not in values(plain, "argo-cd")


@pytest.mark.parametrize("stack", offline.STACKS)
def test_sso_off_declares_nothing_of_it(stack: str, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Off: no sso namespace, proxy, Secret, security group, flow or output."""
    run = stack_runs[stack]
    found = [r.urn for r in run.resources if "oauth2-proxy" in str(r.inputs.get("chart", "")) or r.name.startswith(("sso", "alb-to-sso"))
             or r.name.endswith("-ui-alb")]
    assert found == [] and "uiUrls" not in run.outputs, found


def test_ingress_annotations_follow_the_settings() -> None:
    """The Ingress annotations come from the settings: internal, HTTPS 443 only, the certificate, the security group."""
    settings = settings_for("staging", **PLAIN)
    annotations = sso_component.ingress_annotations(settings, "sg-0123456789abcdef0")
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert json.loads(annotations["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTPS": 443}]
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == SSO["ssoCertificateArn"]
    assert annotations["alb.ingress.kubernetes.io/security-groups"] == "sg-0123456789abcdef0"
    assert "staging+sso" in VARIANTS
