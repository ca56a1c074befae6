"""The sign-in option as rendered: each UI's Ingress on the internal ALB, its oauth2-proxy, and who reaches what.

Over the objects `pulumi up` applies (the oauth2-proxy chart 10.7.0 rendered with the program's values) for every
stack and option variant: the committed stacks render none of it, the ``staging+sso`` variant all of it.
"""

from __future__ import annotations

import ipaddress
import json
import re

from tests.infra.conftest import VARIANTS
from tooling import offline
from tooling.netpol import Pod, allowed
from tooling.render import Rendered, namespace_of

ALB = "alb.ingress.kubernetes.io/"


def _objects(stack_objects: dict[str, list[Rendered]], stack: str) -> list[dict]:
    return [item.obj for item in stack_objects[stack]]


def _ui_ingresses(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] == "Ingress" and namespace_of(o) == "sso"]


def test_sso_renders_only_where_turned_on(stack: str, stack_objects: dict[str, list[Rendered]],
                                          stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Off by default: no committed stack renders a UI Ingress or proxy; the variant renders one of each per UI."""
    from infra import sso  # noqa: PLC0415

    settings = stack_runs[stack].settings
    objects = _objects(stack_objects, stack)
    proxies = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Deployment" and namespace_of(o) == "sso")
    assert proxies == sorted(ui.release for ui in sso.uis(settings)), f"{stack}: proxies {proxies}"
    assert len(_ui_ingresses(objects)) == len(proxies), f"{stack}: one Ingress per proxy"
    assert settings.sso.enabled == (stack in VARIANTS and VARIANTS[stack][1].get("sso", False)), f"{stack}: sso is on in a committed stack"


def test_ui_ingresses_are_internal_https_only_behind_the_platform_security_group(
        stack: str, stack_objects: dict[str, list[Rendered]], stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Each UI's Ingress: class alb, its own host under ssoDomain, internal, HTTPS 443 only with the ACM certificate,
    the program's security group in front, one ALB group, and a backend that is its proxy's rendered Service port."""
    run = stack_runs[stack]
    objects = _objects(stack_objects, stack)
    groups = [r for r in run.resources if r.type == "aws:ec2/securityGroup:SecurityGroup" and r.name.endswith("-ui-alb")]
    assert len(groups) == int(run.settings.sso.enabled), f"{stack}: {len(groups)} security groups for the UIs' ALB"
    services = {(namespace_of(o), o["metadata"]["name"]): o for o in objects if o["kind"] == "Service"}
    for ingress in _ui_ingresses(objects):
        name, annotations = ingress["metadata"]["name"], ingress["metadata"]["annotations"]
        assert ingress["spec"]["ingressClassName"] == "alb", name
        ((rule,),) = [ingress["spec"]["rules"]]
        assert rule["host"] == f"{name.removesuffix('-oauth2-proxy')}.{run.settings.sso.domain}", name
        assert annotations[f"{ALB}scheme"] == "internal", name
        assert json.loads(annotations[f"{ALB}listen-ports"]) == [{"HTTPS": 443}], f"{name}: a listener other than HTTPS 443"
        assert annotations[f"{ALB}certificate-arn"] == run.settings.sso.certificate_arn, name
        assert annotations[f"{ALB}security-groups"] == groups[0].id and groups[0].id.startswith("sg-"), f"{name}: not the program's group"
        assert annotations[f"{ALB}manage-backend-security-group-rules"] == "true", name
        assert annotations[f"{ALB}group.name"] == f"{run.settings.name}-ui", name
        backend = rule["http"]["paths"][0]["backend"]["service"]
        service = services[("sso", backend["name"])]
        assert backend["port"]["number"] in [p["port"] for p in service["spec"]["ports"]], f"{name}: backend port not on its Service"
    for group in groups:
        ingress_rules = group.inputs["ingress"]
        assert [(r["fromPort"], r["toPort"]) for r in ingress_rules] == [(443, 443)], "the UIs' ALB admits more than HTTPS"
        assert all(ipaddress.ip_network(c).subnet_of(ipaddress.ip_network(run.settings.network.vpc_cidr))
                   for r in ingress_rules for c in r["cidrBlocks"]), "the UIs' ALB admits addresses outside the VPC by default"


def test_each_proxy_signs_in_with_the_stack_provider_and_reaches_only_its_ui(
        stack: str, stack_objects: dict[str, list[Rendered]], stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Every proxy runs OIDC against ssoIssuerUrl with its own callback; its upstream is a rendered UI Service whose pods
    admit the proxy on their port, while another pod of the cluster and the ALB's subnets never reach the UI directly."""
    from infra import sso  # noqa: PLC0415

    settings = stack_runs[stack].settings
    objects = _objects(stack_objects, stack)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    services = {(namespace_of(o), o["metadata"]["name"]): o for o in objects if o["kind"] == "Service"}
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment" and namespace_of(o) == "sso"}
    configs = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap" and namespace_of(o) == "sso"}
    alb = str(next(ipaddress.ip_network(sso.load_balancer_sources(settings)[0]).hosts())) if settings.sso.enabled else ""
    for ui in sso.uis(settings):
        (container,) = deployments[ui.release]["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        assert "--provider=oidc" in args and f"--oidc-issuer-url={settings.sso.issuer_url}" in args, ui.name
        assert f"--redirect-url=https://{sso.host(settings, ui)}/oauth2/callback" in args, ui.name
        (upstream,) = re.findall(r'upstreams = \["([^"]+)"\]', configs[ui.release]["data"]["oauth2_proxy.cfg"])
        name, namespace, service_port = re.match(r"http://([^.]+)\.([^.]+)\.svc\.cluster\.local:(\d+)$", upstream).groups()
        assert namespace == ui.namespace, f"{ui.name}: upstream {upstream} is not in {ui.namespace}"
        service = services[(namespace, name)]
        (target,) = [p for p in service["spec"]["ports"] if p["port"] == int(service_port)]
        port = target["targetPort"] if isinstance(target["targetPort"], int) else ui.pod_port
        assert port == ui.pod_port, f"{ui.name}: its Service sends to {port}, the flows admit {ui.pod_port}"
        proxy, ui_pod = Pod("sso", ui.proxy_pods), Pod(ui.namespace, dict(service["spec"]["selector"]))
        assert allowed(policies, proxy, ui_pod, port), f"{ui.name}: its proxy cannot reach it"
        assert allowed(policies, Pod("", ip=alb), Pod("sso", ui.proxy_pods), sso.PROXY_PORT), f"{ui.name}: the ALB cannot reach its proxy"
        assert not allowed(policies, Pod("", ip=alb), ui_pod, port), f"{ui.name}: the ALB's subnets reach the UI around its proxy"
        assert not allowed(policies, Pod("models", {"app": "other"}), ui_pod, port), f"{ui.name}: another pod reaches the UI"
        assert allowed(policies, proxy, Pod("", ip="203.0.113.10"), 443), f"{ui.name}: its proxy cannot reach the OIDC provider"
