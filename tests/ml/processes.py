"""What the demo tests look for after a run: processes it left behind."""

from __future__ import annotations

import os
from pathlib import Path


def leftover_processes(workdir: Path) -> list[str]:
    """Command lines of processes that still mention the demo's workdir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(workdir) in cmdline:
            found.append(cmdline)
    return found
