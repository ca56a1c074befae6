"""Certificates for a database the platform runs in the cluster: the program is the certificate authority.

A CA and a server certificate for the service's DNS names (pulumi-tls, kept in the stack's
encrypted state, renewed by ``pulumi up`` in their last 30 days). ECDSA P-256 keys. Clients
verify the server against the CA, which they mount from a ConfigMap; the server's pod template
carries the certificate's digest so that a renewal restarts it (:func:`sha256`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

CA_DAYS, SERVER_DAYS, RENEW_DAYS = 5 * 365, 365, 30
# The pod template annotation that carries the server certificate's (or, on a client, the CA's) digest.
TLS_CERT_ANNOTATION = "mlplatform.io/tls-cert-sha256"


@dataclass(frozen=True)
class ServiceCertificates:
    """The CA's certificate, and the server's certificate and key (secret), all PEM."""

    ca_cert: pulumi.Output[str]
    server_cert: pulumi.Output[str]
    server_key: pulumi.Output[str]


def dns_names(service: str, namespace: str) -> list[str]:
    """Every name a client in the cluster may use for the service."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def service_certificates(name: str, service: str, namespace: str, opts: pulumi.ResourceOptions) -> ServiceCertificates:
    """A CA of the service's own and a server certificate for its DNS names (resources named ``name-...``)."""
    ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    ca = tls.SelfSignedCert(
        f"{name}-ca",
        private_key_pem=ca_key.private_key_pem,
        is_ca_certificate=True,
        subject={"common_name": f"mlplatform {namespace} {service} CA", "organization": "mlplatform"},
        validity_period_hours=CA_DAYS * 24,
        early_renewal_hours=RENEW_DAYS * 24,
        allowed_uses=["cert_signing", "crl_signing"],
        opts=opts,
    )
    key = tls.PrivateKey(f"{name}-server-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    names = dns_names(service, namespace)
    request = tls.CertRequest(
        f"{name}-server-request",
        private_key_pem=key.private_key_pem,
        subject={"common_name": names[-1], "organization": "mlplatform"},
        dns_names=names,
        opts=opts,
    )
    server = tls.LocallySignedCert(
        f"{name}-server",
        cert_request_pem=request.cert_request_pem,
        ca_private_key_pem=ca_key.private_key_pem,
        ca_cert_pem=ca.cert_pem,
        validity_period_hours=SERVER_DAYS * 24,
        early_renewal_hours=RENEW_DAYS * 24,
        allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
        opts=opts,
    )
    return ServiceCertificates(ca.cert_pem, server.cert_pem, pulumi.Output.secret(key.private_key_pem))


def sha256(pem: pulumi.Input[str]) -> pulumi.Output[str]:
    """A certificate's digest, for a pod template annotation: a new certificate restarts the pod."""
    return pulumi.Output.from_input(pem).apply(lambda text: hashlib.sha256(text.encode()).hexdigest())
