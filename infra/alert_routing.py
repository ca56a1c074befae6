"""Alertmanager's configuration from the stack's receivers: severities routed, inhibitions, credentials as files.

kube-prometheus-stack renders ``alertmanager.config`` into Alertmanager's configuration Secret. Each receiver
reads its credential from a file of the Secret :data:`CREDENTIALS_SECRET` (the program creates it from the
stack's secret ``alertCredentials``), which the operator mounts at :data:`CREDENTIALS_DIR` because it is listed
in ``alertmanagerSpec.secrets``: no credential is ever a value of the configuration, the chart or the stack file.

The fields are those of Alertmanager v0.34.0 (the chart's image) that Debian's amtool 0.25 also reads (the tests
run `amtool check-config` on every stack's rendered configuration): a webhook's secret is a bearer token
(``http_config.authorization.credentials_file``), since ``url_file`` is newer than that amtool.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from infra.config.observability import NULL_RECEIVER, AlertReceiver, ObservabilitySettings

SEVERITIES = ("critical", "warning", "info")
CREDENTIALS_SECRET = "alertmanager-receivers"
# Where the Prometheus operator mounts a Secret listed in alertmanagerSpec.secrets (its Alertmanager CRD says so).
CREDENTIALS_DIR = f"/etc/alertmanager/secrets/{CREDENTIALS_SECRET}"
# Always firing by design (the dead man's switch, and kube-prometheus' inhibitor of info alerts): never sent.
SILENT_ALERTS = ("Watchdog", "InfoInhibitor")
# An alert is the same problem at two severities when these labels agree: the critical one silences the other.
SAME_PROBLEM = ["namespace", "alertname"]


# The pods of Alertmanager as the Prometheus operator labels them (the only ones that reach the receivers).
ALERTMANAGER_PODS = {"app.kubernetes.io/name": "alertmanager"}


def receiver_ports(settings: ObservabilitySettings) -> tuple[int, ...]:
    """The TCP ports Alertmanager opens to reach the stack's receivers (Slack and PagerDuty: HTTPS)."""
    ports = set()
    for receiver in settings.receivers:
        if receiver.type == "email":
            ports.add(int(receiver.smarthost.rsplit(":", 1)[1]))
        elif receiver.type == "webhook":
            ports.add(urlsplit(receiver.url).port or (80 if receiver.url.startswith("http://") else 443))
        else:
            ports.add(443)
    return tuple(sorted(ports))


def credential_file(receiver: AlertReceiver) -> str:
    """The file that holds ``receiver``'s credential (the Secret's key is the receiver's name)."""
    return f"{CREDENTIALS_DIR}/{receiver.name}"


def _receiver(receiver: AlertReceiver, has_credential: bool) -> dict[str, Any]:
    secret = credential_file(receiver)
    if receiver.type == "slack":
        return {"slack_configs": [{"api_url_file": secret, "channel": receiver.channel, "send_resolved": True}]}
    if receiver.type == "pagerduty":
        return {"pagerduty_configs": [{"routing_key_file": secret, "send_resolved": True}]}
    if receiver.type == "email":
        email = {"to": receiver.to, "from": receiver.sender, "smarthost": receiver.smarthost, "send_resolved": True}
        if receiver.auth_username:
            email |= {"auth_username": receiver.auth_username, "auth_password_file": secret}
        return {"email_configs": [email]}
    webhook: dict[str, Any] = {"url": receiver.url, "send_resolved": True}
    if has_credential:
        webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": secret}}
    return {"webhook_configs": [webhook]}


def alertmanager_config(settings: ObservabilitySettings) -> dict[str, Any]:
    """Alertmanager's configuration: each severity to the receivers that list it, the rest to ``null``."""
    routes: list[dict[str, Any]] = [{"receiver": NULL_RECEIVER, "matchers": [f'alertname =~ "{"|".join(SILENT_ALERTS)}"']}]
    for severity in SEVERITIES:
        # `continue`: an alert goes to every receiver of its severity, not only the first.
        routes += [{"receiver": receiver.name, "matchers": [f'severity = "{severity}"'], "continue": True}
                   for receiver in settings.routed(severity)]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            # What no route takes (a severity no receiver lists, or none) is dropped; the preview names those severities.
            "receiver": NULL_RECEIVER,
            "group_by": SAME_PROBLEM,
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            {"source_matchers": ['severity = "critical"'], "target_matchers": ['severity =~ "warning|info"'], "equal": SAME_PROBLEM},
            {"source_matchers": ['severity = "warning"'], "target_matchers": ['severity = "info"'], "equal": SAME_PROBLEM},
            {"source_matchers": ['alertname = "InfoInhibitor"'], "target_matchers": ['severity = "info"'], "equal": ["namespace"]},
        ],
        "receivers": [{"name": NULL_RECEIVER}, *({"name": receiver.name, **_receiver(receiver, receiver.name in settings.credentials)}
                                                 for receiver in settings.receivers)],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def routing_summary(settings: ObservabilitySettings) -> tuple[str, list[str]]:
    """One line saying where each severity goes, and the warnings a preview must show (alerts that reach no one)."""
    warnings = []
    if not settings.receivers:
        warnings.append("Alertmanager has no receiver: alerts reach no one (they show only in its UI); declare mlplatform:alertReceivers "
                        "(README \"Alert routing\")")
    else:
        unrouted = [severity for severity in SEVERITIES if not settings.routed(severity)]
        if unrouted:
            warnings.append(f"no receiver takes {', '.join(unrouted)} alerts: they are dropped; add the severity to a receiver")
        for receiver in settings.without_credential:
            warnings.append(f"receiver {receiver.name} ({receiver.type}) has no credential yet and cannot send: "
                            f"pulumi config set --secret --path 'mlplatform:alertCredentials.{receiver.name}' <value>")
    routes = "; ".join(f"{severity} -> {', '.join(r.name for r in settings.routed(severity)) or 'no one'}" for severity in SEVERITIES)
    return routes, warnings
