"""The platform's credentials: one table, and where each value comes from on each kind of stack.

On AWS stacks every credential lives in AWS Secrets Manager and never passes through the program:
RDS creates and rotates its master password itself (``manage_master_user_password``); the others
are secrets without a version that the External Secrets Operator fills once with a value its
Password generator makes in the cluster (components/external_secrets.py). The program only ever
holds *templates*: an ``ExternalSecret`` (:class:`Synced`) tells the operator which Secrets Manager
values to read and how to lay them out in the Kubernetes Secret the consumer already reads.

LOCAL STACK ONLY: :class:`Generated` makes each value with ``random.RandomPassword``, so it is in that
stack's Pulumi state (a development cluster with no AWS; README "Credentials").
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

if TYPE_CHECKING:
    from infra.config import Settings


@dataclass(frozen=True)
class Credential:
    """A credential the platform needs: its key (a Go template identifier) and its generated length."""

    key: str
    description: str
    length: int = 32

    def remote_name(self, stack_name: str) -> str:
        """Its name in AWS Secrets Manager."""
        return f"{stack_name}/{self.key.replace('_', '-')}"


DATABASE = Credential("database_password", "MLflow's Postgres user (the in-cluster Postgres; on RDS the instance's own secret)", 40)
KFP_MYSQL = Credential("kfp_mysql_root", "KFP's MySQL root user (API server, cache server, MLMD)")
MLFLOW_ADMIN = Credential("mlflow_admin", "MLflow's basic-auth admin (the pipeline steps log as it)")
MLFLOW_FLASK_KEY = Credential("mlflow_flask_key", "the key MLflow's basic-auth app signs its CSRF tokens with", 64)
GRAFANA_ADMIN = Credential("grafana_admin", "Grafana's admin user")
MLFLOW_PIPELINE = Credential("mlflow_pipeline", "MLflow's pipeline user (the pipeline steps sign in as it)")
# oauth2-proxy's cookie key: 32 characters (AES-256); the stack's own sso Secret (ssoClientSecretName) holds one instead.
SSO_COOKIE = Credential("sso_cookie", "the key the sign-in proxies encrypt their session cookies with", 32)
ALL = (DATABASE, KFP_MYSQL, MLFLOW_ADMIN, MLFLOW_FLASK_KEY, GRAFANA_ADMIN, MLFLOW_PIPELINE, SSO_COOKIE)


def generated_for(settings: Settings) -> tuple[Credential, ...]:
    """The credentials a stack generates: every one it uses but RDS's master password (RDS keeps its own)."""
    found = [DATABASE] if settings.database.kind == "in-cluster" else []
    found.append(KFP_MYSQL)
    if settings.mlflow_basic_auth:
        found += [MLFLOW_ADMIN, MLFLOW_FLASK_KEY, MLFLOW_PIPELINE]
    if settings.monitoring:
        found.append(GRAFANA_ADMIN)
    if settings.sso.enabled and not settings.sso.client_secret_name:
        found.append(SSO_COOKIE)
    return tuple(found)


# How often the operator re-reads Secrets Manager: a rotated value reaches the Kubernetes Secret within this.
REFRESH_INTERVAL = "1h"
# The operator's ClusterSecretStore for this stack's Secrets Manager (components/external_secrets.py).
STORE_NAME = "aws-secrets-manager"
EXTERNAL_SECRET_API = "external-secrets.io/v1"
# pulumi-kubernetes (>= 4.18) awaits this condition: a consumer created after the ExternalSecret finds its Secret.
WAIT_FOR = {"pulumi.com/waitFor": "condition=Ready"}
# A credential in a template: {{.key}} or {{.key | filter ...}} (no spaces inside the braces' ends: it stays one word
# in the formats it lands in).
_MARKER = re.compile(r"\{\{\.(\w+)( \| [^}]*)?\}\}")


@dataclass(frozen=True)
class RemoteRef:
    """Where a credential's value is in Secrets Manager: a secret name or ARN, and a JSON property of it ("" for the whole)."""

    key: pulumi.Input[str]
    property: str = ""


class Credentials(ABC):
    """Where the stack's credential values come from; consumers build their Secrets through it."""

    @abstractmethod
    def value(self, credential: Credential, name: str, opts: pulumi.ResourceOptions, url: bool = False) -> pulumi.Input[str]:
        """The credential's value as a Secret's data may embed it (``url``: percent-encoded for a URI).
        ``name`` and ``opts`` name the generated resource on the local stack (unused elsewhere)."""

    @abstractmethod
    def ini_escaped(self, text: pulumi.Input[str]) -> pulumi.Input[str]:
        """``text`` with every ``%`` doubled, for Python's configparser (MLflow's basic_auth.ini)."""

    @abstractmethod
    def secret(self, name: str, secret_name: str, namespace: str, string_data: Mapping[str, pulumi.Input[str]],
               opts: pulumi.ResourceOptions, secret_type: str = "Opaque") -> pulumi.Resource:
        """The Secret ``namespace/secret_name`` holding ``string_data``; consumers depend on the returned resource."""


class Generated(Credentials):
    """LOCAL STACK ONLY: values generated by the program (random.RandomPassword), so they are in Pulumi state."""

    def __init__(self) -> None:
        self._made: dict[str, random.RandomPassword] = {}

    def value(self, credential: Credential, name: str, opts: pulumi.ResourceOptions, url: bool = False) -> pulumi.Input[str]:
        if credential.key not in self._made:
            self._made[credential.key] = random.RandomPassword(name, length=credential.length, special=False, opts=opts)
        result = self._made[credential.key].result
        return result.apply(lambda value: quote(value, safe="")) if url else result

    def ini_escaped(self, text: pulumi.Input[str]) -> pulumi.Input[str]:
        return pulumi.Output.from_input(text).apply(lambda value: value.replace("%", "%%"))

    def secret(self, name: str, secret_name: str, namespace: str, string_data: Mapping[str, pulumi.Input[str]],
               opts: pulumi.ResourceOptions, secret_type: str = "Opaque") -> pulumi.Resource:
        return k8s.core.v1.Secret(name, metadata={"name": secret_name, "namespace": namespace},
                                  type=None if secret_type == "Opaque" else secret_type, string_data=dict(string_data), opts=opts)


def used_keys(texts: list[str]) -> list[str]:
    """The credential keys the templates ``texts`` read, in order of first use."""
    return list(dict.fromkeys(match.group(1) for text in texts for match in _MARKER.finditer(text)))


def ini_escape_template(text: str) -> str:
    """``text`` with each ``%`` doubled: around the templates here, inside them by the operator (sprig's replace)."""
    parts = re.split(r"(\{\{.*?\}\})", text)
    return "".join(
        part.replace("%", "%%") if i % 2 == 0 else _MARKER.sub(lambda m: f'{{{{.{m.group(1)}{m.group(2) or ""} | replace "%" "%%"}}}}', part)
        for i, part in enumerate(parts)
    )


def external_secret_spec(secret_name: str, string_data: Mapping[str, str], remote: Mapping[str, RemoteRef],
                         secret_type: str = "Opaque") -> dict:
    """The ExternalSecret that makes Secret ``secret_name`` from the templates ``string_data`` (resolved strings)."""
    keys = used_keys(list(string_data.values()))
    unknown = [key for key in keys if key not in remote]
    if unknown:
        raise ValueError(f"Secret {secret_name} reads {unknown}, which this stack keeps nowhere in Secrets Manager")
    return {
        "refreshInterval": REFRESH_INTERVAL,
        "secretStoreRef": {"kind": "ClusterSecretStore", "name": STORE_NAME},
        # Owner: the operator owns the Secret (deleted with the ExternalSecret); nothing else writes it.
        "target": {"name": secret_name, "creationPolicy": "Owner",
                   "template": {"engineVersion": "v2", "type": secret_type, "data": dict(string_data)}},
        "data": [{"secretKey": key, "remoteRef": {"key": remote[key].key, **({"property": remote[key].property} if remote[key].property else {})}}
                 for key in keys],
    }


class Synced(Credentials):
    """AWS stacks: each Secret is an ExternalSecret whose template reads the values from Secrets Manager."""

    def __init__(self, remote: Mapping[str, RemoteRef], after: list[pulumi.Resource]) -> None:
        """``remote``: credential key -> where it is; ``after``: what an ExternalSecret needs first (the store)."""
        self.remote = dict(remote)
        self.after = after

    def value(self, credential: Credential, name: str, opts: pulumi.ResourceOptions, url: bool = False) -> pulumi.Input[str]:
        return f"{{{{.{credential.key} | urlquery}}}}" if url else f"{{{{.{credential.key}}}}}"

    def ini_escaped(self, text: pulumi.Input[str]) -> pulumi.Input[str]:
        return pulumi.Output.from_input(text).apply(ini_escape_template)

    def secret(self, name: str, secret_name: str, namespace: str, string_data: Mapping[str, pulumi.Input[str]],
               opts: pulumi.ResourceOptions, secret_type: str = "Opaque") -> pulumi.Resource:
        keys = list(string_data)
        remote_keys = sorted(self.remote)
        spec = pulumi.Output.all(*string_data.values(), *(self.remote[k].key for k in remote_keys)).apply(
            lambda values: external_secret_spec(
                secret_name, dict(zip(keys, values[: len(keys)], strict=True)),
                {k: RemoteRef(v, self.remote[k].property) for k, v in zip(remote_keys, values[len(keys):], strict=True)}, secret_type,
            )
        )
        return k8s.apiextensions.CustomResource(
            name, api_version=EXTERNAL_SECRET_API, kind="ExternalSecret",
            metadata={"name": secret_name, "namespace": namespace, "annotations": dict(WAIT_FOR)},
            spec=spec, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=self.after)),
        )
