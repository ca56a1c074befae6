"""What every settings group shares: the project's name, the error type, the frozen model base and CIDR checks."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

PROJECT = "mlplatform"
# Config namespaces a stack file may use: the project's own and the providers' the program creates.
# Any other namespace is a typo (mlplatfrom:servingMaxReplicas) that Pulumi would silently ignore.
CONFIG_NAMESPACES = frozenset({PROJECT, "aws", "kubernetes", "random", "pulumi"})
# RFC 1918's private ranges: where EKS service CIDRs may lie, and what "outside the cluster's networks" excludes.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


class ConfigError(ValueError):
    """Invalid stack configuration; the message is one line meant for a person."""


def invalid(field: str, message: str) -> PydanticCustomError:
    """An error about ``field`` of the model being validated (the field is appended to the key path)."""
    return PydanticCustomError("invalid_config", message.replace("{", "(").replace("}", ")"), {"field": field})


class Frozen(BaseModel):
    """A settings model: immutable, no unknown keys, camelCase aliases as the stack files spell them."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


def ipv4_network(cidr: str) -> ipaddress.IPv4Network:
    """``cidr`` as a network, or a one-line ValueError naming it."""
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as error:
        raise ValueError(f"'{cidr}' is not an IPv4 CIDR block ({error})") from None


def _cidr_list(value: tuple[str, ...]) -> tuple[str, ...]:
    for cidr in value:
        ipv4_network(cidr)
    return value


def _dns_label(value: str) -> str:
    if not re.match(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$", value):
        raise ValueError("must be a lowercase DNS label of at most 40 characters")
    return value


# A DNS domain (models.staging.example.com) and an ACM certificate's ARN: the load balancers' hosts and TLS.
DNS_DOMAIN = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")
ACM_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")


# IPv4 CIDR blocks, each checked; a lowercase DNS label (names of namespaces and releases).
Cidrs = Annotated[tuple[str, ...], AfterValidator(_cidr_list)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]


def _dns_domain(value: str) -> str:
    if value and not DNS_DOMAIN.match(value):
        raise ValueError("not a DNS domain (for example models.staging.example.com)")
    return value


def _acm_certificate(value: str) -> str:
    if value and not ACM_CERTIFICATE_ARN.match(value):
        raise ValueError("not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)")
    return value


# A DNS domain, or empty; an ACM certificate's ARN, or empty (the models' and the UIs' load balancers).
DnsDomain = Annotated[str, AfterValidator(_dns_domain)]
AcmCertificateArn = Annotated[str, AfterValidator(_acm_certificate)]


def is_prod_stack(stack: str) -> bool:
    """A stack named prod (or prod-*, *-prod) is prod whatever its settings claim (the config and the pack agree)."""
    return stack == "prod" or stack.startswith("prod-") or stack.endswith("-prod")


def covers_internet(cidrs: Iterable[str]) -> bool:
    """Whether a set of IPv4 CIDRs covers every address (0.0.0.0/1 + 128.0.0.0/1 does, like 0.0.0.0/0); unparsable
    entries count for nothing."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.IPv4Network(str(cidr), strict=False))
        except ValueError:
            continue
    return any(block.prefixlen == 0 for block in ipaddress.collapse_addresses(networks))
