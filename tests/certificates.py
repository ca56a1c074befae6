"""Certificates made with openssl the way pulumi-tls makes the program's (infra/components/service_tls.py):
an ECDSA P-256 CA and a server certificate for the declared DNS names. Under mocks the program's
are placeholders, so the checks that run a real server make their own.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make(folder: Path, dns_names: list[str], name: str) -> None:
    """``name``-ca.crt and a server pair ``name``.crt / ``name``.key for ``dns_names``, in ``folder``."""
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}-ca.key", cwd=folder)
    _openssl("req", "-x509", "-new", "-key", f"{name}-ca.key", "-subj", f"/CN={name} CA", "-days", "2",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-out", f"{name}-ca.crt", cwd=folder)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=folder)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={dns_names[-1]}", "-out", f"{name}.csr", cwd=folder)
    (folder / f"{name}.ext").write_text(
        "subjectAltName=" + ",".join(f"DNS:{n}" for n in dns_names) + "\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{name}-ca.crt", "-CAkey", f"{name}-ca.key",
             "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=folder)
