"""Fetch the upstream charts and manifests the platform pins into .upstream/ (needs git and internet).

    python scripts/fetch_upstream.py            # every source named in infra/versions.py

The conformance tests read ../shared/upstream when it is there, else .upstream/: each release is
cloned at its tag and only the pinned path is kept, under the same folder names. Charts with
dependencies get them with `helm dependency build`, as a packaged chart carries them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra import versions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / ".upstream"


def sources() -> list[versions.Source]:
    """Every pinned source, once."""
    found = [chart.source for chart in versions.CHARTS if chart.source] + list(versions.MANIFESTS)
    return list(dict.fromkeys(found))


def fetch(source: versions.Source) -> None:
    """Clone ``source`` at its tag and keep its path under .upstream/<folder>/<path>."""
    destination = TARGET / source.folder / source.path
    if destination.exists():
        print(f"{source.folder}/{source.path}: present")
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", "--branch", source.tag, f"https://github.com/{source.repository}", tmp],
            check=True,
        )
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(Path(tmp) / source.path, destination)
    if (destination / "Chart.yaml").exists() and "dependencies:" in (destination / "Chart.yaml").read_text():
        subprocess.run(["helm", "dependency", "build", str(destination)], check=True)
    print(f"{source.folder}/{source.path}: {source.repository}@{source.tag}")


def main() -> int:
    try:
        for source in sources():
            fetch(source)
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        print(f"error: could not fetch the upstream sources ({error}); they need git, helm and access to github.com", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
