"""The sign-in option's resources (infra/sso.py says what and why): the UIs' load balancer security group
(AWS), and in the cluster one oauth2-proxy release per UI, each with its Ingress on the shared internal ALB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from infra import paths, sso, versions
from infra.components.load_balancer_controller import INGRESS_CLASS
from infra.components.pinned_release import pinned_release
from infra.config import Settings
from infra.credentials import SSO_COOKIE, Credentials
from infra.placement import PLATFORM

ALB = "alb.ingress.kubernetes.io/"
# The TLS policy of the models' HTTPS listener (the serving chart's loadBalancer.sslPolicy): one policy per platform.
SSL_POLICY = yaml.safe_load((paths.SERVING_CHART / "values.yaml").read_text())["loadBalancer"]["sslPolicy"]


def ingress_annotations(settings: Settings, security_group_id: str) -> dict[str, str]:
    """The AWS Load Balancer Controller's annotations of a UI's Ingress: internal, HTTPS only with the ACM certificate,
    the platform's security group in front (the controller opens the targets to it), one ALB for every UI."""
    return {
        f"{ALB}scheme": "internal",
        f"{ALB}target-type": "ip",
        f"{ALB}listen-ports": '[{"HTTPS":443}]',
        f"{ALB}certificate-arn": settings.sso.certificate_arn,
        f"{ALB}ssl-policy": SSL_POLICY,
        f"{ALB}backend-protocol": "HTTP",
        f"{ALB}healthcheck-path": "/ping",
        f"{ALB}group.name": f"{settings.name}-ui",
        f"{ALB}security-groups": security_group_id,
        f"{ALB}manage-backend-security-group-rules": "true",
    }


def proxy_values(settings: Settings, ui: sso.Ui, security_group_id: str) -> dict[str, Any]:
    """The oauth2-proxy chart's values for ``ui``: OIDC sign-in, then every request to the UI's Service."""
    host = sso.host(settings, ui)
    bounds = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
    return {
        "config": {
            # The client secret (and, from the stack's own Secret, the cookie key) from existingSecret; the id is an argument.
            "existingSecret": settings.sso.client_secret_name or sso.CLIENT_SECRET,
            "requiredSecretKeys": list(sso.SECRET_KEYS) if settings.sso.client_secret_name else [sso.SECRET_KEYS[0]],
            "emailDomains": list(settings.sso.email_domains),
            "upstreams": [ui.upstream],
            "cookieName": f"_sso_{ui.name}",
        },
        "extraArgs": {
            "provider": "oidc",
            "oidc-issuer-url": settings.sso.issuer_url,
            "client-id": settings.sso.client_id,
            "redirect-url": f"https://{host}/oauth2/callback",
            # Behind the ALB: the client's address and scheme from its X-Forwarded-* headers.
            "reverse-proxy": "true",
            "skip-provider-button": "true",
            # The UI sees its own in-cluster name (MLflow answers only the hosts it allows).
            "pass-host-header": "false",
            "silence-ping-logging": "true",
        },
        # The generated cookie key from its own Secret (the program's, synced from Secrets Manager on AWS).
        "extraEnv": [] if settings.sso.client_secret_name else [{
            "name": "OAUTH2_PROXY_COOKIE_SECRET", "valueFrom": {"secretKeyRef": {"name": sso.COOKIE_SECRET, "key": sso.SECRET_KEYS[1]}},
        }],
        "replicaCount": 2,
        # Placed like every platform service (infra/placement.py).
        "priorityClassName": PLATFORM.name,
        "nodeSelector": settings.placement.node_selector,
        "resources": bounds,
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        # The proxy never calls the Kubernetes API.
        "serviceAccount": {"automountServiceAccountToken": False},
        "metrics": {"enabled": False},
        "ingress": {
            "enabled": True,
            "className": INGRESS_CLASS,
            "path": "/",
            "pathType": "Prefix",
            "hosts": [host],
            "annotations": ingress_annotations(settings, security_group_id),
        },
    }


class UiLoadBalancerSecurityGroup(pulumi.ComponentResource):
    """The UIs' ALB's security group: HTTPS in from ssoAllowedCidrs (else the VPC), out only to the VPC (its targets)."""

    id: pulumi.Output[str]

    def __init__(self, name: str, settings: Settings, vpc_id: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:aws:UiLoadBalancerSecurityGroup", name, None, opts)
        group = aws.ec2.SecurityGroup(
            name,
            description=f"The UIs' internal load balancer of {settings.name} (sso): HTTPS from allowed CIDRs",
            vpc_id=vpc_id,
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443, cidr_blocks=list(sso.allowed_cidrs(settings)))],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="tcp", from_port=sso.PROXY_PORT, to_port=sso.PROXY_PORT,
                                                    cidr_blocks=[settings.network.vpc_cidr])],
            tags={"Name": name},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.id = group.id
        self.register_outputs({"id": self.id})


class SingleSignOn(pulumi.ComponentResource):
    """One oauth2-proxy per UI in namespace sso, and the Secret they read (unless the stack names its own)."""

    def __init__(self, name: str, settings: Settings, namespace: str, security_group_id: pulumi.Input[str],
                 credentials: Credentials, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:SingleSignOn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        after: Sequence[pulumi.Resource] = ()
        if not settings.sso.client_secret_name:
            # The OIDC client's secret: the person's Pulumi secret (ssoClientSecret), held as a secret in the state.
            client = k8s.core.v1.Secret(
                f"{name}-client",
                metadata={"name": sso.CLIENT_SECRET, "namespace": namespace},
                string_data={sso.SECRET_KEYS[0]: pulumi.Output.secret(settings.sso.client_secret.get_secret_value())},
                opts=child,
            )
            # oauth2-proxy's cookie key (AES-256): the stack's credential, on AWS from Secrets Manager.
            cookie = credentials.value(SSO_COOKIE, f"{name}-cookie-secret", child)
            after = (client, credentials.secret(f"{name}-cookie", sso.COOKIE_SECRET, namespace, {sso.SECRET_KEYS[1]: cookie}, child))
        for ui in sso.uis(settings):
            values = pulumi.Output.from_input(security_group_id).apply(lambda group, ui=ui: proxy_values(settings, ui, group))
            pinned_release(ui.release, versions.OAUTH2_PROXY, namespace, values, parent=self, release_name=ui.release, depends_on=after)
        self.register_outputs({})


def urls(settings: Settings) -> dict[str, str]:
    """Each UI's address, a stack output (empty with sso off)."""
    return {ui.name: f"https://{sso.host(settings, ui)}" for ui in sso.uis(settings)}
