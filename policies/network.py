"""Network rules: no public load balancer, no NetworkPolicy ingress from the internet, database connections over TLS."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from infra.config import covers_internet
from policies.helpers import SECURITY, get, message, rule
from policies.k8s import NETWORK_POLICY, SECRET, SERVICE


@rule("no-public-load-balancer", "No Service creates an internet-facing load balancer unless annotated internal.",
      SECURITY, Severity.CRITICAL, "Annotate it internal or use the gateway.")
def no_public_load_balancer(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SERVICE or get(args.props, "spec.type") != "LoadBalancer":
        return
    annotations = get(args.props, "metadata.annotations", {}) or {}
    internal = (
        annotations.get("service.beta.kubernetes.io/aws-load-balancer-scheme") == "internal"
        or annotations.get("service.beta.kubernetes.io/aws-load-balancer-internal") in ("true", "0.0.0.0/0")
    )
    if not internal:
        report(message(
            f"Service {get(args.props, 'metadata.name')} creates an internet-facing load balancer.",
            "it publishes the service (a model, MLflow) to the internet, outside the gateway's auth.",
            "annotate it service.beta.kubernetes.io/aws-load-balancer-scheme: internal, or route through the gateway.",
        ))


@rule("network-policies-no-internet-ingress", "No NetworkPolicy admits ingress from address ranges that cover the internet.",
      SECURITY, Severity.HIGH, "Name the peers: the VPC (control plane, load balancer subnets) or namespaces.")
def no_internet_ingress(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NETWORK_POLICY:
        return
    for allowed in get(args.props, "spec.ingress", []) or []:
        cidrs = [get(peer, "ipBlock.cidr") for peer in allowed.get("from", []) or [] if get(peer, "ipBlock.cidr")]
        if cidrs and covers_internet(cidrs):
            report(message(
                f"NetworkPolicy {get(args.props, 'metadata.name')} admits ingress from {', '.join(cidrs)}: every address.",
                "anything that can route to a node reaches those pods (a webhook, a model) past the default deny.",
                "allow the control plane's or the load balancer's CIDRs (the VPC), or a namespace selector.",
            ))


# A Postgres connection URI (as a Secret value, or a `database_uri = ...` line in a config file
# kept in one), and the libpq modes that encrypt the connection.
POSTGRES_URI = re.compile(r"postgres(?:ql)?(?:\+\w+)?://[^\s]+")
TLS_MODES = ("require", "verify-ca", "verify-full")
# MLMD's MetadataStoreServerConfig (text format) with a MySQL connection; TLS is its ssl_options block.
MLMD_MYSQL = re.compile(r"connection_config\s*\{\s*mysql\s*\{(?P<body>[^}]*(?:\{[^}]*\}[^}]*)*)\}")


def _base64_text(value: Any) -> str:
    """A Secret data value as text ('' when it is not base64 of UTF-8)."""
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


@rule("database-connections-use-tls", "Every database connection the platform declares is encrypted (libpq sslmode require or stronger; "
      "MLMD's MySQL config with ssl_options).",
      SECURITY, Severity.HIGH, "Add ?sslmode=verify-full (with sslrootcert) or ?sslmode=require to the database URI; ssl_options to MLMD's.")
def database_connections_use_tls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SECRET:
        return
    # data holds base64 (as the API stores it), stringData plain text.
    values = {key: _base64_text(value) for key, value in (get(args.props, "data", {}) or {}).items()}
    values.update(get(args.props, "stringData", {}) or {})
    name = get(args.props, "metadata.name", "")
    for key, value in values.items():
        if not isinstance(value, str):
            continue
        for uri in POSTGRES_URI.findall(value):
            modes = re.findall(r"[?&]sslmode=([\w-]+)", uri)
            if not modes or modes[-1] not in TLS_MODES:
                report(message(
                    f"Secret {name} key {key} connects to a database with sslmode={modes[-1] if modes else '(libpq default: prefer)'}.",
                    "the password and the data cross the cluster network in clear, or fall back to clear when TLS is refused.",
                    "serve the database over TLS and connect with sslmode=verify-full (or require).",
                ))
        for config in MLMD_MYSQL.finditer(value):
            if "ssl_options" not in config.group("body"):
                report(message(
                    f"Secret {name} key {key} connects MLMD to MySQL without ssl_options.",
                    "the password and every pipeline's metadata cross the cluster network in clear.",
                    "serve MySQL over TLS and add ssl_options { ca: ... } to the mysql block.",
                ))
