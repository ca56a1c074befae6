"""The transformer's code as one file: a zip application (``python transformer.pyz ARGS``) of the standard-library
modules it imports, for a ConfigMap that the chart mounts into the pinned python image (``infra.versions`` "python").
The transformer then needs no image of its own: the code travels with the platform, the image is Python's.

    python -m pipelines.features.bundle OUT.pyz     # write the archive (the program puts it in the ConfigMap)

The archive is byte-for-byte reproducible (fixed timestamps, sorted entries), so the ConfigMap changes only when the
code does.
"""

from __future__ import annotations

import base64
import io
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The ConfigMap's key that holds the archive; the chart's `transformer.code.key` default (a test checks they agree).
ARCHIVE_KEY = "transformer.pyz"
# Where the chart mounts it in the transformer container.
MOUNT_PATH = "/opt/transformer"
# Every module the transformer imports (a test runs the archive with site-packages off: nothing else is needed).
MODULES = (
    "pipelines/__init__.py",
    "pipelines/features/__init__.py",
    "pipelines/features/repo.py",
    "pipelines/features/transformer.py",
    "pipelines/fraud/__init__.py",
    "pipelines/fraud/contract.py",
)
_MAIN = "import sys\nfrom pipelines.features.transformer import main\nsys.exit(main())\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def archive() -> bytes:
    """The zip application's bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in [("__main__.py", _MAIN), *((m, (ROOT / m).read_text()) for m in sorted(MODULES))]:
            info = zipfile.ZipInfo(name, _EPOCH)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            bundle.writestr(info, text)
    return buffer.getvalue()


def configmap_binary_data() -> dict[str, str]:
    """The ConfigMap's ``binaryData`` (base64, as the Kubernetes API takes it)."""
    return {ARCHIVE_KEY: base64.b64encode(archive()).decode()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pipelines.features.bundle OUT.pyz", file=sys.stderr)
        return 2
    Path(args[0]).write_bytes(archive())
    print(f"wrote {args[0]} ({len(archive())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
