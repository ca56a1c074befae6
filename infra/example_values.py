"""Example values never reach a real account.

The committed stack files are the examples every offline tool and test runs: they name AWS's
documentation account (123456789012, which the offline mocks answer as the caller), ``example.com``
domains and documentation CIDRs. Against any other account they would deploy made-up values: a
certificate ARN of someone else's account, a model in a bucket that is not the stack's, a domain
nobody owns, an API endpoint open to a range no one routes. :func:`refusals` names each such key;
the program stops before declaring anything else when there is one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from infra.config import FLAT_KEYS, PROJECT, Settings

# AWS's documentation account: the examples' and the offline mocks' (tooling/mocks.py ACCOUNT_ID).
EXAMPLE_ACCOUNT = "123456789012"
# RFC 2606 domains and RFC 5737 documentation ranges.
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")
DOCUMENTATION_RANGES = tuple(ipaddress.IPv4Network(cidr) for cidr in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
_ARN_ACCOUNT = re.compile(r"^arn:aws[\w-]*:[\w-]+:[\w-]*:(\d{12}):")
# The platform's buckets end in their account id (infra/program.py): s3://mlp-<env>-<purpose>-<account>/...
_BUCKET_ACCOUNT = re.compile(r"^s3://[a-z0-9.-]*-(\d{12})(/|$)")


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, f"[{index}]"))
    elif isinstance(value, str):
        yield path, value


def _key(path: tuple[str, ...]) -> str:
    """The flat key a person wrote in the stack file (serving.certificateArn -> mlplatform:servingCertificateArn)."""
    flat = FLAT_KEYS.get((path[0], path[1])) if len(path) >= 2 else None
    rest = path[2:] if flat else path[1:]
    return f"{PROJECT}:{flat or path[0]}" + "".join(part if part.startswith("[") else f".{part}" for part in rest)


def _problem(value: str, account: str) -> str:
    if (match := _ARN_ACCOUNT.match(value) or _BUCKET_ACCOUNT.match(value)) and match.group(1) != account:
        return f"names account {match.group(1)}, not the deploying account {account}"
    host = value.lower().rstrip(".")
    if any(host == domain or host.endswith(f".{domain}") for domain in EXAMPLE_DOMAINS):
        return "is under an example domain (RFC 2606) that no one can point at the platform"
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return ""
    if any(network.subnet_of(documentation) for documentation in DOCUMENTATION_RANGES):
        return "is a documentation range (RFC 5737) that no one routes"
    return ""


def refusals(settings: Settings, account: str) -> list[str]:
    """One line per example value the stack would deploy into ``account`` (none for the example account itself)."""
    if account == EXAMPLE_ACCOUNT:
        return []
    found = []
    for path, value in _leaves(settings.model_dump(by_alias=False)):
        problem = _problem(value, account)
        if problem:
            found.append(f"{_key(path)} = {value!r} {problem}: set the stack's own value (the committed stack files are "
                         "offline examples)")
    return found
