"""Monitoring's settings: where alerts go (receivers, their credentials as Pulumi secrets) and how much Prometheus keeps.

A receiver is declared in the stack file (``mlplatform:alertReceivers``) with what is not secret: its kind, the
severities it takes, a Slack channel, an e-mail address, a webhook URL. What is secret (a Slack webhook URL, a
PagerDuty routing key, an SMTP password, a webhook's bearer token) is set per receiver with

    pulumi config set --secret --path 'mlplatform:alertCredentials.<receiver>' <value>

and reaches Alertmanager only as a file of a Kubernetes Secret (``*_file`` fields). A credential-looking value in
clear anywhere in a receiver is refused, and so is ``alertCredentials`` when Pulumi does not hold it as a secret
(:func:`check_secret_credentials`: the CLI tells the program which keys are secrets).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from infra.config.base import PROJECT, ConfigError, DnsLabel, Frozen

Severity = Literal["critical", "warning", "info"]
# The flat keys of the group (the stack file's spelling); CREDENTIALS_KEY must be a Pulumi secret.
RECEIVERS_KEY = "alertReceivers"
CREDENTIALS_KEY = "alertCredentials"
# Alertmanager's name for "drop it"; a receiver may not take it.
NULL_RECEIVER = "null"
# Which kinds need a credential to send at all (email only when it authenticates: authUsername).
NEEDS_CREDENTIAL = {"slack": "its incoming-webhook URL", "pagerduty": "its Events API v2 routing key",
                    "email": "the SMTP password of authUsername", "webhook": "a bearer token (optional)"}
# Receiver fields that would hold a credential: they do not exist; the credential is alertCredentials.<name>.
CREDENTIAL_FIELDS = frozenset({"apiUrl", "routingKey", "serviceKey", "authPassword", "password", "token", "secret",
                               "bearerToken", "webhookUrl", "apiKey"})
# What a credential looks like in clear: (pattern, what it is).
CLEAR_CREDENTIALS = (
    (re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/", re.I), "a Slack webhook URL"),
    (re.compile(r"\bxox[abposr]-[\w-]+"), "a Slack token"),
    (re.compile(r"events\.pagerduty\.com/.*[?&/][A-Za-z0-9]{32}\b|^[A-Za-z0-9]{32}$"), "a PagerDuty integration key"),
    (re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@", re.I), "a URL with a password"),
    (re.compile(r"[?&](token|access_token|api_?key|key|secret|sig|signature|password|code)=", re.I), "a URL with a secret parameter"),
    (re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_+/=-]{40,}$"), "a long random token"),
)


def clear_credential(value: str) -> str:
    """What ``value`` looks like if it looks like a credential ("" if not)."""
    return next((what for pattern, what in CLEAR_CREDENTIALS if pattern.search(value)), "")


def secret_command(receiver: str) -> str:
    """The command that sets ``receiver``'s credential as a Pulumi secret."""
    return f"pulumi config set --secret --path '{PROJECT}:{CREDENTIALS_KEY}.{receiver}' <value>"


class AlertReceiver(Frozen):
    """One place alerts go: Slack, a webhook, PagerDuty or e-mail, for the severities it lists."""

    name: DnsLabel
    type: Literal["slack", "webhook", "pagerduty", "email"]
    severities: tuple[Severity, ...] = Field(min_length=1)
    channel: str = ""
    url: str = ""
    to: str = ""
    sender: str = Field("", alias="from")
    smarthost: str = ""
    auth_username: str = ""

    @model_validator(mode="before")
    @classmethod
    def _no_credential_fields(cls, raw: Any) -> Any:
        if isinstance(raw, Mapping):
            name = raw.get("name") or "<name>"
            for field in sorted(CREDENTIAL_FIELDS & set(raw)):
                raise ValueError(f"{field}: a credential never goes in the stack file; remove it and run `{secret_command(name)}`")
            for field, value in raw.items():
                if isinstance(value, str) and (what := clear_credential(value)):
                    raise ValueError(f"{field} looks like {what} in clear; put the credential in a secret instead: `{secret_command(name)}`")
        return raw

    @field_validator("name")
    @classmethod
    def _not_null(cls, value: str) -> str:
        if value == NULL_RECEIVER:
            raise ValueError("'null' is Alertmanager's drop-everything receiver; name yours (for example pager or chat)")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("not an http(s) URL (for example https://alerts.example.com/hook)")
        return value

    @field_validator("to", "sender")
    @classmethod
    def _address(cls, value: str) -> str:
        if value and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise ValueError("not an e-mail address")
        return value

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, value: str) -> str:
        if value and not re.match(r"^[A-Za-z0-9.-]+:\d{1,5}$", value):
            raise ValueError("not host:port of an SMTP server (for example smtp.example.com:587)")
        return value

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> AlertReceiver:
        required = {"slack": ("channel",), "webhook": ("url",), "pagerduty": (), "email": ("to", "sender", "smarthost")}[self.type]
        for field in required:
            if not getattr(self, field):
                spelt = "from" if field == "sender" else field
                raise ValueError(f"{'an' if self.type == 'email' else 'a'} {self.type} receiver needs {spelt}")
        extra = {"channel", "url", "to", "sender", "smarthost", "auth_username"} - set(required) - ({"auth_username"} if self.type == "email" else set())
        for field in sorted(extra):
            if getattr(self, field):
                raise ValueError(f"{'from' if field == 'sender' else field} is not a setting of a {self.type} receiver "
                                 f"(its settings: {', '.join(required) or 'none besides name, type, severities'}); remove it")
        if len(set(self.severities)) != len(self.severities):
            raise ValueError(f"severities {list(self.severities)} lists one twice")
        return self

    @property
    def needs_credential(self) -> bool:
        """Whether it cannot send without its credential (a webhook's bearer token is optional)."""
        return self.type in ("slack", "pagerduty") or (self.type == "email" and bool(self.auth_username))


class ObservabilitySettings(Frozen):
    """Where alerts go (receivers and their secret credentials) and Prometheus's retention and volume."""

    receivers: tuple[AlertReceiver, ...]
    credentials: dict[str, SecretStr]
    retention_days: int = Field(ge=1, le=365)
    storage_gi: int = Field(ge=5, le=4096)

    @model_validator(mode="after")
    def _credentials_of_receivers(self) -> ObservabilitySettings:
        names = [receiver.name for receiver in self.receivers]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"receiver names must be unique, {repeated} repeat")
        for name, value in self.credentials.items():
            if name not in names:
                raise ValueError(f"{CREDENTIALS_KEY}.{name} names no receiver of {RECEIVERS_KEY} ({', '.join(names) or 'none'}); "
                                 f"remove it (`pulumi config rm --path '{PROJECT}:{CREDENTIALS_KEY}.{name}'`) or declare the receiver")
            if not value.get_secret_value().strip():
                raise ValueError(f"{CREDENTIALS_KEY}.{name} is empty; set it with `{secret_command(name)}`")
        return self

    def routed(self, severity: str) -> tuple[AlertReceiver, ...]:
        """The receivers that take ``severity``."""
        return tuple(receiver for receiver in self.receivers if severity in receiver.severities)

    @property
    def without_credential(self) -> tuple[AlertReceiver, ...]:
        """Declared receivers that need a credential the stack does not hold yet (they cannot send)."""
        return tuple(receiver for receiver in self.receivers if receiver.needs_credential and receiver.name not in self.credentials)


def check_secret_credentials(decoded: Mapping[str, Any], is_secret: bool) -> None:
    """Refuse ``alertCredentials`` in clear: Pulumi marks a key secret (``is_secret``) when it was set with --secret."""
    credentials = decoded.get(CREDENTIALS_KEY)
    if credentials and not is_secret:
        names = ", ".join(sorted(credentials)) if isinstance(credentials, Mapping) else "<receiver>"
        raise ConfigError(f"{PROJECT}:{CREDENTIALS_KEY} is in clear in the stack file (receivers {names}): anyone who reads the repository "
                          f"reads the credentials; remove it and set each with `{secret_command('<receiver>')}`")
