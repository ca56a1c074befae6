"""The CA bundle RDS's server certificates chain to, for the clients that verify them (KFP's MySQL clients on RDS).

RDS's CAs are not in the images' system trust stores, so the program hands the bundle of the stack's
region to the clients (the ``mysql-ca`` ConfigMap their ``SSL_CERT_DIR`` reads, as with the in-cluster
MySQL's own CA). AWS publishes it at :data:`BUNDLE_URL`, served over HTTPS with a public certificate:
the program reads it there each run (it changes when AWS adds a CA; a changed bundle restarts the
clients through their certificate digest). Offline runs (tooling/offline.py) hand it a stand-in with
:func:`source`, never the network.
"""

from __future__ import annotations

import functools
import re
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----")


def download(region: str) -> str:
    """The region's bundle from AWS's trust store."""
    url = BUNDLE_URL.format(region=region)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - a fixed https URL
            return response.read().decode()
    except OSError as error:
        raise RuntimeError(f"RDS CA bundle: cannot read {url} ({error}); the machine that runs pulumi needs HTTPS "
                           "to truststore.pki.rds.amazonaws.com") from error


_source: Callable[[str], str] = download


@contextmanager
def source(fetch: Callable[[str], str]) -> Iterator[None]:
    """Within the block, bundles come from ``fetch`` (an offline run's stand-in)."""
    global _source  # noqa: PLW0603 - the one seam between the program and the network
    previous, _source = _source, fetch
    bundle.cache_clear()
    try:
        yield
    finally:
        _source = previous
        bundle.cache_clear()


def checked(region: str, text: str) -> str:
    """``text`` if it holds certificates and nothing else (no key, no stray block), else one line saying what it holds."""
    kinds = set(_PEM.findall(text))
    if kinds != {"CERTIFICATE"}:
        raise RuntimeError(f"RDS CA bundle for {region}: expected PEM certificates only, found {sorted(kinds) or 'no PEM block'}")
    return text


@functools.lru_cache(maxsize=4)
def bundle(region: str) -> str:
    """The PEM certificates of the region's RDS CAs."""
    return checked(region, _source(region))
