"""Generate the chart's documentation from the `# --` comments of values.yaml (their one owner).

    python scripts/chart_docs.py          # rewrite the README's values table and the schema's descriptions
    python scripts/chart_docs.py --check  # exit 1 if either is stale

A key is documented by a `# --` comment right above it (helm-docs' convention); a map
documented as a whole documents its children. The table sits between the
`<!-- values:start -->` and `<!-- values:end -->` markers; every property of
values.schema.json gets the description of its key (a child of a map documented as
a whole, or an item of a list, gets its parent's, with its own name).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "charts" / "model-serving"
START, END = "<!-- values:start -->", "<!-- values:end -->"
_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_.-]+):(?:\s|$)")


def comments(values_text: str) -> dict[str, str]:
    """Dotted key path -> its `# --` description."""
    described: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending is not None:
            pending.append(stripped[1:].strip())
            continue
        match = _KEY.match(line)
        if match and not stripped.startswith("-"):
            indent = len(match.group("indent"))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match.group("key")))
            if pending is not None:
                described[".".join(key for _, key in stack)] = " ".join(pending)
        pending = None
    return described


def leaves(values: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every value that is not a non-empty map."""
    if isinstance(values, dict) and values:
        return [leaf for key, child in values.items() for leaf in leaves(child, f"{prefix}.{key}" if prefix else key)]
    return [prefix]


def rows(values_path: Path) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """Table rows (key, type, default, description) and the keys left undocumented."""
    text = values_path.read_text()
    values = yaml.safe_load(text)
    described = comments(text)
    table, missing = [], []
    documented_maps = set()
    for path in sorted(described):
        value: Any = values
        for part in path.split("."):
            value = value[part]
        kind = {dict: "object", list: "list", bool: "bool", int: "int", float: "float", str: "string"}.get(type(value), "null")
        table.append((path, kind, json.dumps(value), described[path]))
        documented_maps.add(path)
    for leaf in leaves(values):
        parts = leaf.split(".")
        if not any(".".join(parts[:n]) in documented_maps for n in range(1, len(parts) + 1)):
            missing.append(leaf)
    return table, missing


def render_table(table: list[tuple[str, str, str, str]]) -> str:
    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for key, kind, default, description in table:
        default, description = default.replace("|", "\\|"), description.replace("|", "\\|")
        lines.append(f"| `{key}` | {kind} | `{default}` | {description} |")
    return "\n".join(lines)


# Helm's own key, which every chart's schema admits and this chart does not read.
RESERVED = {"global": "Helm's global values, shared with parent charts; this chart reads none."}


def describe_schema(schema: dict[str, Any], described: dict[str, str]) -> dict[str, Any]:
    """``schema`` with a description on every property, from the values' comments."""

    def walk(node: dict[str, Any], path: str, anchor: tuple[str, str] | None) -> None:
        """``anchor``: the nearest documented ancestor (its path and description), for undocumented children."""
        for key, child in node.get("properties", {}).items():
            child_path = f"{path}.{key}" if path else key
            own = described.get(child_path) or RESERVED.get(child_path)
            if own:
                text, child_anchor = own, (child_path, own)
            elif anchor:
                text, child_anchor = f"{anchor[1]} ({child_path.removeprefix(anchor[0] + '.')})", anchor
            elif child.get("properties"):
                # A map whose keys are documented one by one: name them.
                text, child_anchor = f"The {child_path} settings: {', '.join(child['properties'])}.", None
            else:
                raise SystemExit(f"error: {child_path} has no `# --` comment in values.yaml (nor has a parent)")
            child["description"] = text
            walk(child, child_path, child_anchor)
        items = node.get("items")
        if isinstance(items, dict):
            walk(items, path, anchor)

    walk(schema, "", None)
    return schema


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the README table is stale")
    args = parser.parse_args()
    table, missing = rows(CHART / "values.yaml")
    if missing:
        print(f"error: values without a `# --` comment: {', '.join(missing)}", file=sys.stderr)
        return 1
    readme_path, schema_path = CHART / "README.md", CHART / "values.schema.json"
    readme = readme_path.read_text()
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    updated = f"{head}{START}\n{render_table(table)}\n{END}{tail}"
    schema_text = schema_path.read_text()
    described_schema = json.dumps(describe_schema(json.loads(schema_text), comments((CHART / "values.yaml").read_text())), indent=2) + "\n"
    if args.check:
        stale = [str(path.relative_to(CHART.parent.parent)) for path, old, new in
                 ((readme_path, readme, updated), (schema_path, schema_text, described_schema)) if old != new]
        if stale:
            print(f"error: {', '.join(stale)} stale; run python scripts/chart_docs.py", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(updated)
    schema_path.write_text(described_schema)
    print(f"wrote {len(table)} rows to {readme_path} and the descriptions of {schema_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
