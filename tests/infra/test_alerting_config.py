"""Alert receivers in the stack config: one-line errors, credentials only as Pulumi secrets, warnings when alerts reach no one."""

from __future__ import annotations

import pytest

from infra import alert_routing, config
from infra.components import monitoring_stack
from tooling import offline

SLACK_URL = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
CHAT = {"name": "chat", "type": "slack", "channel": "#ml", "severities": ["critical", "warning"]}


def staging(**overrides: object) -> config.Settings:
    return offline.settings_of("staging", overrides)[1]


@pytest.mark.parametrize(("receiver", "says"), [
    ({**CHAT, "channel": SLACK_URL}, "channel looks like a Slack webhook URL in clear"),
    ({**CHAT, "apiUrl": SLACK_URL}, "apiUrl: a credential never goes in the stack file"),
    ({"name": "pager", "type": "pagerduty", "severities": ["critical"], "routingKey": "R0123456789abcdef0123456789abcde"},
     "routingKey: a credential never goes in the stack file"),
    ({"name": "hook", "type": "webhook", "url": "https://alerts.internal.example.com/hook?token=abc", "severities": ["warning"]},
     "url looks like a URL with a secret parameter"),
    ({"name": "hook", "type": "webhook", "url": "https://bot:hunter2@alerts.internal.example.com/hook", "severities": ["warning"]},
     "url looks like a URL with a password"),
])
def test_a_credential_in_clear_is_refused(receiver: dict, says: str) -> None:
    """A receiver carrying a credential in clear is refused, naming the field and the `pulumi config set --secret` to use."""
    with pytest.raises(config.ConfigError) as error:
        staging(alertReceivers=[receiver])
    message = str(error.value)
    assert not any(value in message for value in receiver.values() if isinstance(value, str) and "://" in value or value == "R0123456789abcdef0123456789abcde"), \
        "the credential is echoed"
    assert says in message and f"pulumi config set --secret --path 'mlplatform:alertCredentials.{receiver['name']}'" in message
    assert "\n" not in message


def test_alert_credentials_in_clear_are_refused_without_echoing_them() -> None:
    """alertCredentials set without --secret is refused (Pulumi does not mark it secret), and the value is not printed."""
    with pytest.raises(config.ConfigError, match=r"mlplatform:alertCredentials is in clear in the stack file") as error:
        staging(alertCredentials={"chat": SLACK_URL})
    assert SLACK_URL not in str(error.value)
    assert staging(alertCredentials={"chat": {"secure": SLACK_URL}}).observability.credentials["chat"].get_secret_value() == SLACK_URL


def test_a_credential_for_no_receiver_is_refused_without_echoing_it() -> None:
    """A credential naming no declared receiver is refused; the error shows [secret], not the value."""
    with pytest.raises(config.ConfigError, match=r"alertCredentials.pager names no receiver") as error:
        staging(alertCredentials={"pager": {"secure": "R0123456789abcdef0123456789abcde"}})
    assert "R0123456789abcdef" not in str(error.value)


@pytest.mark.parametrize(("receiver", "says"), [
    ({"name": "chat", "type": "slack", "severities": ["warning"]}, "a slack receiver needs channel"),
    ({"name": "mail", "type": "email", "to": "a@example.com", "severities": ["info"]}, "an email receiver needs from"),
    ({"name": "null", "type": "pagerduty", "severities": ["critical"]}, "'null' is Alertmanager's drop-everything receiver"),
    ({**CHAT, "severities": []}, "alertReceivers[0].severities"),
    ({**CHAT, "severities": ["page"]}, "alertReceivers[0].severities[0]"),
    ({"name": "pager", "type": "pagerduty", "channel": "#x", "severities": ["critical"]}, "channel is not a setting of a pagerduty receiver"),
])
def test_bad_receivers_get_one_line_errors(receiver: dict, says: str) -> None:
    """Each malformed receiver gets one line naming the key and what to fix."""
    with pytest.raises(config.ConfigError) as error:
        staging(alertReceivers=[receiver])
    assert "mlplatform:alertReceivers" in str(error.value) and says in str(error.value)


def test_prod_needs_a_receiver_of_critical_alerts() -> None:
    """prod's critical alerts must reach someone: a prod stack file without such a receiver is refused."""
    with pytest.raises(config.ConfigError, match=r"mlplatform:alertReceivers = .*prod's critical alerts must reach someone"):
        offline.settings_of("prod", {"alertReceivers": [{**CHAT, "severities": ["warning"]}]})


def test_no_receiver_and_missing_credentials_are_warnings() -> None:
    """What would silently drop alerts is said: no receiver, a severity nobody takes, a receiver without its credential."""
    _, none = alert_routing.routing_summary(staging(alertReceivers=[]).observability)
    assert none and "no receiver: alerts reach no one" in none[0]
    routes, warnings = alert_routing.routing_summary(staging(alertReceivers=[CHAT]).observability)
    assert routes == "critical -> chat; warning -> chat; info -> no one"
    assert any("no receiver takes info alerts" in w for w in warnings)
    assert any("receiver chat (slack) has no credential yet" in w for w in warnings)
    _, complete = alert_routing.routing_summary(staging(alertCredentials={"chat": {"secure": SLACK_URL}}).observability)
    assert complete == []


def test_prometheus_and_alertmanager_keep_their_data_on_the_platform_storage_class() -> None:
    """Prometheus and Alertmanager claim volumes of the platform's StorageClass; retention follows the stack."""
    settings = offline.settings_of("prod")[1]
    values = monitoring_stack.chart_values(True, settings.observability, "gp3-encrypted")
    prometheus = values["prometheus"]["prometheusSpec"]
    claim = prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3-encrypted" and claim["resources"]["requests"]["storage"] == "100Gi"
    assert prometheus["retention"] == "30d" and prometheus["retentionSize"] == "85GB"
    assert values["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp3-encrypted"
    assert "storageClassName" not in monitoring_stack.chart_values(False, settings.observability, None)["prometheus"][
        "prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
