"""Imports run one way: the program's building blocks (components) read shared facts (flows, object store,
GPU facts, versions, ...), and only the two layer modules put components together."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The modules that assemble components into a stack.
ASSEMBLERS = {"infra.cluster_layer", "infra.program"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_only_the_layers_import_components() -> None:
    """No shared-facts module imports a component (components import them, never the reverse)."""
    offenders = {
        module_name(path): sorted(name for name in imports(path) if name.startswith("infra.components"))
        for path in (ROOT / "infra").glob("*.py")
        if module_name(path) not in ASSEMBLERS
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_object_store_is_decided_once() -> None:
    """Only the cluster layer reads the objectStore setting (and the namespace list, whether MinIO gets one);
    MLflow, KFP, MinIO, the flows and the serving values are handed the ObjectStore."""
    readers = sorted(module_name(path) for path in (ROOT / "infra").rglob("*.py") if "settings.object_store" in path.read_text())
    assert readers == ["infra.cluster_layer", "infra.namespaces"]


def test_tools_sit_above_the_program_and_the_pack() -> None:
    """tooling/ imports infra/ and policies/; neither imports tooling/ (nor does the pack import the program's tools)."""
    below = [path for package in ("infra", "policies", "pipelines") for path in (ROOT / package).rglob("*.py")]
    offenders = {module_name(path): sorted(n for n in imports(path) if n.startswith("tooling")) for path in below}
    assert {module: names for module, names in offenders.items() if names} == {}
