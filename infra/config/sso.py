"""The sign-in option: the UIs (KFP, MLflow, Grafana, Argo CD) behind OIDC on an internal load balancer.

Off by default. On, each UI gets a host name under ``ssoDomain`` on one internal ALB (HTTPS only, the
ACM certificate ``ssoCertificateArn``), and an oauth2-proxy (pinned chart) in front of it that signs
people in with the OIDC provider ``ssoIssuerUrl`` (client ``ssoClientId``). The client secret is a
Pulumi secret (``pulumi config set --secret ssoClientSecret``) or an existing Secret
(``ssoClientSecretName``); never clear text in a stack file (loading.check_secrets).
"""

from __future__ import annotations

import re

from pydantic import SecretStr, field_validator, model_validator

from infra.config.base import AcmCertificateArn, Cidrs, DnsDomain, Frozen, covers_internet, invalid

# The keys whose values must be Pulumi secrets, as the stack files spell them.
SECRET_KEYS = ("ssoClientSecret",)
_EMAIL_DOMAIN = re.compile(r"^(\*|([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,})$")
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class SsoSettings(Frozen):
    """The UIs behind OIDC: their domain and certificate, the OIDC client, who may sign in and from where."""

    enabled: bool = False
    domain: DnsDomain = ""
    certificate_arn: AcmCertificateArn = ""
    issuer_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    client_secret_name: str = ""
    email_domains: tuple[str, ...] = ("*",)
    allowed_cidrs: Cidrs = ()

    @field_validator("issuer_url")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if value and not re.match(r"^https://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError("not an OIDC issuer URL: https://<host>[/path], as the provider's "
                             "/.well-known/openid-configuration names it (no query, no fragment)")
        return value

    @field_validator("client_secret_name")
    @classmethod
    def _secret_name(cls, value: str) -> str:
        if value and not _SECRET_NAME.match(value):
            raise ValueError("not a Kubernetes Secret name (lowercase letters, digits, '-' and '.')")
        return value

    @field_validator("email_domains")
    @classmethod
    def _email_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for domain in value:
            if not _EMAIL_DOMAIN.match(domain):
                raise ValueError(f"'{domain}' is not an email domain; list domains such as example.com, or * for everyone the provider signs in")
        return value

    @model_validator(mode="after")
    def _complete(self) -> SsoSettings:
        given = {"ssoDomain": self.domain, "ssoCertificateArn": self.certificate_arn, "ssoIssuerUrl": self.issuer_url,
                 "ssoClientId": self.client_id, "ssoClientSecretName": self.client_secret_name,
                 "ssoClientSecret": self.client_secret.get_secret_value(), "ssoAllowedCidrs": self.allowed_cidrs}
        if not self.enabled:
            for key, value in given.items():
                if value:
                    raise invalid(_field(key), "set without sso: true; remove it or set sso: true to put the UIs behind OIDC")
            return self
        for key in ("ssoDomain", "ssoCertificateArn", "ssoIssuerUrl", "ssoClientId"):
            if not given[key]:
                raise invalid(_field(key), f"required with sso: true ({_REQUIRED[key]})")
        if bool(self.client_secret.get_secret_value()) == bool(self.client_secret_name):
            raise invalid("enabled", "give the OIDC client's secret once: `pulumi config set --secret ssoClientSecret <value>`, "
                                     "or ssoClientSecretName (an existing Secret in namespace sso with keys client-secret and cookie-secret)")
        if not self.email_domains:
            raise invalid("emailDomains", "no email domain would be let in; list your domains, or * for everyone the provider signs in")
        if covers_internet(self.allowed_cidrs):
            raise invalid("allowedCidrs", f"{list(self.allowed_cidrs)} cover every address; the UIs' load balancer is internal: "
                                          "list your VPC's, VPN's or office's CIDRs (empty: the VPC)")
        return self


_REQUIRED = {
    "ssoDomain": "the UIs are served at kfp.<domain>, mlflow.<domain>, grafana.<domain>, argocd.<domain>",
    "ssoCertificateArn": "the ACM certificate of *.<ssoDomain>: the load balancer serves HTTPS only",
    "ssoIssuerUrl": "your OIDC provider's issuer, for example https://login.example.com/realms/platform",
    "ssoClientId": "the OIDC client registered at the provider for the UIs' callbacks",
}


def _field(key: str) -> str:
    """A flat key's field in this group, camelCase (``ssoClientId`` -> ``clientId``)."""
    name = key.removeprefix("sso")
    return name[0].lower() + name[1:]
